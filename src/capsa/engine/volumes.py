"""Volumes: directories capsa manages under `<root>/volumes/<name>/_data`, named or
anonymous (from an image's VOLUME or a bare `-v /path`), with the local driver's
options (`--opt type=tmpfs --opt device=tmpfs --opt o=size=64m`) mounted on first use."""

from __future__ import annotations

import os
import re
import secrets
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from capsa.engine.db import EngineDB, VolumeRecord
from capsa.engine.layout import Layout
from capsa.errors import AlreadyExists, Conflict, InvalidArgument, NotFound
from capsa.store._files import remove_tree

ANONYMOUS_LABEL = "com.docker.volume.anonymous"
VOLUME_NAME = re.compile(r"[a-zA-Z0-9][a-zA-Z0-9_.-]+")
LOCAL_OPTIONS = ("type", "device", "o")


@dataclass
class Volume:
    record: VolumeRecord
    mountpoint: str

    def inspect(self) -> dict[str, Any]:
        from capsa.times import rfc3339_nano

        return {
            "CreatedAt": rfc3339_nano(self.record.created_ns),
            "Driver": self.record.driver,
            "Labels": dict(self.record.labels) or None,
            "Mountpoint": self.mountpoint,
            "Name": self.record.name,
            "Options": dict(self.record.options) or None,
            "Scope": "local",
        }


def validate_volume_name(name: str) -> str:
    if not VOLUME_NAME.fullmatch(name):
        raise InvalidArgument(
            f"invalid volume name {name!r}",
            hint="use at least two characters: letters, digits and _.- (not first)",
        )
    return name


class Volumes:
    def __init__(self, layout: Layout, db: EngineDB) -> None:
        self.layout = layout
        self.db = db

    def path(self, name: str) -> str:
        return os.path.join(self.layout.volume_dir(name), "_data")

    def create(
        self,
        name: str = "",
        *,
        driver: str = "local",
        labels: dict[str, str] | None = None,
        options: dict[str, str] | None = None,
        anonymous: bool = False,
        exist_ok: bool = True,
    ) -> Volume:
        """Make a volume. A name already in use is returned as it is (Docker's `volume
        create` does the same) unless `exist_ok` is false."""
        if driver != "local":
            raise InvalidArgument(
                f"volume driver {driver!r} is not available", hint="use the local driver"
            )
        options = dict(options or {})
        unknown = sorted(set(options) - set(LOCAL_OPTIONS))
        if unknown:
            raise InvalidArgument(
                f"invalid volume option {unknown[0]!r} for the local driver",
                hint="the local driver takes type, device and o",
            )
        if options and ("type" not in options or "device" not in options):
            raise InvalidArgument(
                "the local driver's options need both type and device",
                hint="e.g. --opt type=tmpfs --opt device=tmpfs --opt o=size=64m",
            )
        labels = dict(labels or {})
        if not name:
            name = secrets.token_hex(32)
            anonymous = True
        validate_volume_name(name)
        if anonymous:
            labels.setdefault(ANONYMOUS_LABEL, "")
        record = VolumeRecord(name, driver, time.time_ns(), labels, options, anonymous)
        data = self.path(name)
        os.makedirs(data, mode=0o755, exist_ok=True)
        if not self.db.add_volume(record):
            existing = self.db.volume(name)
            if not exist_ok:
                raise AlreadyExists(f"volume {name!r} already exists")
            return Volume(existing, data)
        return Volume(record, data)

    def get(self, name: str) -> Volume:
        return Volume(self.db.volume(name), self.path(name))

    def all(self) -> list[Volume]:
        return [Volume(record, self.path(record.name)) for record in self.db.volumes()]

    def users(self) -> dict[str, list[str]]:
        """Volume name -> IDs of the containers that mount it."""
        users: dict[str, list[str]] = {}
        for container in self.db.containers():
            for mount in container.spec.mounts:
                if mount.type == "volume" and mount.source:
                    users.setdefault(mount.source, []).append(container.id)
        return users

    def remove(self, name: str, *, force: bool = False) -> None:
        """Remove an unused volume; `force` only makes a missing one not an error (a
        volume in use is never removed, as in Docker)."""
        try:
            record = self.db.volume(name)
        except NotFound:
            if force:
                return
            raise
        using = self.users().get(name, [])
        if using:
            raise Conflict(
                f"volume {name!r} is in use by container {using[0][:12]}",
                hint="remove the container first (capsa rm)",
            )
        self.unmount(record.name)
        self.db.remove_volume(name)
        remove_tree(self.layout.volume_dir(name))

    def prune(
        self, *, all_volumes: bool = False, labels: Sequence[str] = ()
    ) -> tuple[list[str], int]:
        """Remove unused volumes (anonymous only unless all_volumes, as Docker 23+);
        returns the names and the bytes freed."""
        from capsa.store.snapshots.base import disk_usage

        using = self.users()
        removed = []
        freed = 0
        for volume in self.all():
            if volume.record.name in using:
                continue
            if not all_volumes and not volume.record.anonymous:
                continue
            if not _labels_match(volume.record.labels, labels):
                continue
            try:
                freed += disk_usage(volume.mountpoint).size
                self.remove(volume.record.name)
            except (Conflict, NotFound):
                continue
            removed.append(volume.record.name)
        return removed, freed

    # -- driver options ---------------------------------------------------------------

    def mount_if_needed(self, name: str) -> None:
        """Mount a volume made with type/device options, once."""
        record = self.db.volume(name)
        if not record.options:
            return
        data = self.path(name)
        if _is_mountpoint(data):
            return
        from capsa.kernel.mounts import mount

        options = record.options
        flags = 0
        words = [w for w in options.get("o", "").split(",") if w]
        if "bind" in words or "rbind" in words:
            from capsa.kernel.mounts import MS_BIND, MS_REC

            flags |= MS_BIND | (MS_REC if "rbind" in words else 0)
            words = [w for w in words if w not in ("bind", "rbind")]
        try:
            mount(options["device"], data, options["type"], flags, ",".join(words) or None)
        except OSError as exc:
            raise InvalidArgument(
                f"cannot mount volume {name!r} ({options['type']} {options['device']}): "
                f"{exc.strerror}",
                hint="check the volume's --opt values",
            ) from None

    def unmount(self, name: str) -> None:
        data = self.path(name)
        if _is_mountpoint(data):
            from capsa.store.mount import unmount_all

            unmount_all(data, detach=True)


def _is_mountpoint(path: str) -> bool:
    try:
        with open("/proc/self/mountinfo") as f:
            return any(line.split()[4] == path for line in f)
    except OSError:
        return False


def _labels_match(labels: dict[str, str], wanted: Sequence[str]) -> bool:
    for item in wanted:
        negate = item.startswith("!")
        key, sep, value = item.lstrip("!").partition("=")
        present = key in labels and (not sep or labels[key] == value)
        if present == negate:
            return False
    return True
