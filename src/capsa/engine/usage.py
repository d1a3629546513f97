"""How much disk the engine's things take: each container's writable layer and each
volume, as `docker system df` and `docker ps --size` report them (apparent sizes of
regular files and symlinks, a file with several hard links counted once)."""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass

from capsa.engine import rootfs
from capsa.engine.db import ContainerRecord, EngineDB
from capsa.engine.layout import Layout
from capsa.engine.volumes import Volume, Volumes
from capsa.errors import NotFound
from capsa.store.store import Store


def tree_size(path: str) -> int:
    """Bytes under `path` (0 for a missing one); never follows a symlink."""
    total = 0
    seen: set[tuple[int, int]] = set()
    stack = [path]
    while stack:
        try:
            entries = os.scandir(stack.pop())
        except OSError:
            continue
        with entries:
            for entry in entries:
                try:
                    info = entry.stat(follow_symlinks=False)
                except OSError:
                    continue
                if stat.S_ISDIR(info.st_mode):
                    stack.append(entry.path)
                    continue
                if info.st_nlink > 1:
                    key = (info.st_dev, info.st_ino)
                    if key in seen:
                        continue
                    seen.add(key)
                total += info.st_size
    return total


def writable_size(store: Store, container_id: str) -> int:
    """What the container changed: its snapshot's upper directory."""
    try:
        upper = rootfs.upper_dir(store, container_id)
    except NotFound:
        return 0
    return tree_size(upper) if upper else 0


@dataclass(frozen=True)
class ContainerUsage:
    record: ContainerRecord
    size: int  # its writable layer
    volumes: int  # how many volumes it mounts


@dataclass(frozen=True)
class VolumeUsage:
    volume: Volume
    size: int
    links: int  # containers that mount it


@dataclass(frozen=True)
class DiskUsage:
    containers: list[ContainerUsage]
    volumes: list[VolumeUsage]


def disk_usage(layout: Layout, db: EngineDB, store: Store) -> DiskUsage:
    containers = [
        ContainerUsage(
            record,
            writable_size(store, record.id),
            sum(1 for m in record.spec.mounts if m.type == "volume"),
        )
        for record in db.containers()
    ]
    volumes = Volumes(layout, db)
    users = volumes.users()
    found = [
        VolumeUsage(volume, tree_size(volume.mountpoint), len(users.get(volume.record.name, [])))
        for volume in volumes.all()
    ]
    return DiskUsage(containers, found)
