"""The factories that build a `CgroupManager` (the protocol is in protocol.py) for a new
container (`create_manager`) or an existing one (`load_manager`).

`cgroupsPath` is read as runc's cgroupfs manager reads it:
- absolute ("/a/b"): the same path below the mount point of every hierarchy;
- relative ("a/b"): below this process's own cgroup in each v1 hierarchy, and below the
  parent of its own cgroup in the v2 hierarchy (whose own cgroup holds processes, so no
  controller could be enabled under it);
- absent: "/<default_parent>/<container id>" (relative to our own cgroup when rootless).
".." never climbs above that base. systemd-style "slice:prefix:name" paths need the
systemd cgroup manager, which capsa does not have.
"""

from __future__ import annotations

import os
import posixpath

from capsa.cgroups.fs import FsManager
from capsa.cgroups.layout import SYSTEMD_HIERARCHY, CgroupLayout, clean_join, parent_path
from capsa.errors import InvalidArgument, Unavailable, field_error

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Mapping

    from capsa.cgroups._files import CgroupFiles
    from capsa.cgroups.layout import Hierarchy
    from capsa.cgroups.protocol import CgroupManager

PATH_FIELD = "linux.cgroupsPath"


def is_systemd_path(path: str) -> bool:
    """Whether `path` has the shape of a systemd cgroup path, "slice:prefix:name": three
    fields, no slash anywhere, the last one not empty."""
    return path.count(":") == 2 and "/" not in path and not path.endswith(":")


def _check_container_id(container_id: str) -> None:
    if (
        not container_id
        or container_id in (".", "..")
        or "/" in container_id
        or "\0" in container_id
    ):
        raise InvalidArgument(f"container ID {container_id!r} cannot name a cgroup")


def resolve_path(
    cgroups_path: str | None,
    container_id: str,
    default_parent: str = "capsa",
    rootless: bool = False,
) -> tuple[bool, str]:
    """(is the path absolute, the clean path without a leading slash)."""
    if not cgroups_path:
        _check_container_id(container_id)
        parent = default_parent.strip("/")
        path = f"{parent}/{container_id}" if parent else container_id
        absolute = default_parent.startswith("/") or not rootless
    else:
        if is_systemd_path(cgroups_path):
            raise Unavailable(
                f"{PATH_FIELD} {cgroups_path!r} is a systemd path (slice:prefix:name), which "
                "needs the systemd cgroup manager",
                hint="capsa manages cgroups through cgroupfs only; use a path such as /capsa/<id>",
            )
        if "\0" in cgroups_path:
            raise field_error(PATH_FIELD, "must not contain NUL")
        absolute = cgroups_path.startswith("/")
        path = cgroups_path
    clean = posixpath.normpath("/" + path).lstrip("/")
    if clean in ("", "."):
        raise field_error(PATH_FIELD, "must name a cgroup below the root of the hierarchy")
    return absolute, clean


def _base(h: Hierarchy, absolute: bool, unified: bool) -> str:
    mountpoint = h.mount.mountpoint
    if absolute:
        return mountpoint
    own = h.own_relative
    if own is None:
        raise Unavailable(
            f"cannot place a relative {PATH_FIELD}: this process's cgroup is not visible "
            f"under {mountpoint}",
            hint="use an absolute cgroupsPath",
        )
    if unified:
        own = parent_path(own)
    return clean_join(mountpoint, own.lstrip("/"))


def create_manager(
    cgroups_path: str | None,
    container_id: str,
    *,
    default_parent: str = "capsa",
    rootless: bool = False,
    systemd: bool = False,
    layout: CgroupLayout | None = None,
    files: CgroupFiles | None = None,
) -> CgroupManager:
    """The manager for a new container's cgroups (nothing is created until `create()`).

    `layout` defaults to this host's, read from /proc/self; `files` to the real cgroupfs.
    """
    if systemd:
        raise Unavailable(
            "the systemd cgroup manager is not supported",
            hint="use --cgroup-manager cgroupfs",
        )
    absolute, path = resolve_path(cgroups_path, container_id, default_parent, rootless)
    if layout is None:
        layout = CgroupLayout.detect()
    v1: dict[str, str] = {}
    for h in layout.v1:
        try:
            directory = clean_join(_base(h, absolute, unified=False), path)
        except Unavailable:
            if h.mount.name == "systemd":
                continue  # only a tracker: do without
            raise
        for controller in h.mount.controllers:
            v1[controller] = directory
        if h.mount.name == "systemd":
            v1[SYSTEMD_HIERARCHY] = directory
    unified = None
    if layout.unified is not None:
        try:
            unified = clean_join(_base(layout.unified, absolute, unified=True), path)
        except Unavailable:
            if layout.mode != "hybrid":
                raise  # next to v1 controllers the unified hierarchy is optional

    return FsManager(v1, unified, layout=layout, rootless=rootless, files=files)


def load_manager(
    paths: Mapping[str, str], *, rootless: bool = False, files: CgroupFiles | None = None
) -> CgroupManager:
    """The manager of an existing container, from the `paths()` saved when it was made."""
    return FsManager.from_paths(paths, rootless=rootless, files=files)


def top_level_dirs(names: tuple[str, ...]) -> set[str]:
    """The directories of the top-level cgroups `names` that exist, in every hierarchy
    (the parents containers are made under, such as capsa's and capsa-runtime's)."""
    import glob

    found: set[str] = set()
    for name in names:
        found.update(glob.glob(f"/sys/fs/cgroup/*/{name}"))
        found.update(glob.glob(f"/sys/fs/cgroup/{name}"))
    return {path for path in found if os.path.isdir(path)}


def remove_if_empty(directories: set[str]) -> None:
    """rmdir each of them that holds no process and no child cgroup any more."""
    for path in sorted(directories):
        try:
            os.rmdir(path)
        except OSError:
            pass  # still in use: it stays
