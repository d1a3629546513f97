"""The parts of config.json the root filesystem is built from (`root`, `mounts`,
`linux.devices`, `linux.rootfsPropagation`, `linux.maskedPaths`, `linux.readonlyPaths`),
checked and turned into plain values before anything is mounted: bad input gets an
error naming the field and changes nothing.
"""

from __future__ import annotations

import os
import posixpath
import stat
from _collections_abc import Mapping  # what collections.abc exports, already loaded

from capsa._record import Record
from capsa.errors import field_error
from capsa.kernel.mounts import (
    MS_PRIVATE,
    MS_RDONLY,
    MS_REC,
    MS_REMOUNT,
    MS_SHARED,
    MS_SLAVE,
    MS_UNBINDABLE,
)
from capsa.runtime.rootfs.options import parse_options

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Sequence
    from typing import Any

    from capsa.kernel.syscalls.protocol import Syscalls
    from capsa.runtime.rootfs.options import MountOptions

# linux.rootfsPropagation -> mount(2) propagation flags
ROOTFS_PROPAGATION: dict[str, int] = {
    "private": MS_PRIVATE,
    "rprivate": MS_PRIVATE | MS_REC,
    "slave": MS_SLAVE,
    "rslave": MS_SLAVE | MS_REC,
    "shared": MS_SHARED,
    "rshared": MS_SHARED | MS_REC,
    "unbindable": MS_UNBINDABLE,
    "runbindable": MS_UNBINDABLE | MS_REC,
}
DEFAULT_ROOTFS_PROPAGATION = MS_SLAVE | MS_REC  # runc's default when the field is unset

DEVICE_TYPES: dict[str, int] = {
    "c": stat.S_IFCHR,
    "u": stat.S_IFCHR,  # unbuffered character device: a character device to mknod(2)
    "b": stat.S_IFBLK,
    "p": stat.S_IFIFO,
}
MAX_DEVICE_NUMBER = (1 << 32) - 1
MAX_ID = (1 << 32) - 1


class MountSpec(Record):
    __slots__ = ("destination", "field", "fstype", "options", "source", "source_is_dir")

    def __init__(
        self,
        field: str,
        destination: str,
        fstype: str | None,
        source: str | None,
        options: MountOptions,
        source_is_dir: bool = True,
    ) -> None:
        self.field = field  # `mounts[3]`, for messages
        self.destination = destination  # absolute, lexically clean path inside the container
        self.fstype = fstype
        self.source = source  # bind mounts: an absolute host path
        self.options = options
        self.source_is_dir = source_is_dir  # bind mounts: what to create at the destination

    @property
    def bind(self) -> bool:
        return self.options.bind


class DeviceSpec(Record):
    __slots__ = ("field", "file_type", "gid", "major", "minor", "mode", "path", "uid")

    def __init__(
        self,
        field: str,
        path: str,
        file_type: int,
        major: int,
        minor: int,
        mode: int,
        uid: int,
        gid: int,
    ) -> None:
        self.field = field
        self.path = path  # absolute, clean, inside the container
        self.file_type = file_type  # S_IFCHR, S_IFBLK or S_IFIFO
        self.major = major
        self.minor = minor
        self.mode = mode  # permission bits
        self.uid = uid
        self.gid = gid


class RootfsSpec(Record):
    __slots__ = (
        "devices",
        "masked_paths",
        "mounts",
        "propagation",
        "readonly",
        "readonly_paths",
        "rootfs",
        "terminal",
    )

    def __init__(
        self,
        rootfs: str,
        readonly: bool,
        mounts: tuple[MountSpec, ...],
        devices: tuple[DeviceSpec, ...],
        propagation: int,
        masked_paths: tuple[str, ...],
        readonly_paths: tuple[str, ...],
        terminal: bool,
    ) -> None:
        self.rootfs = rootfs  # absolute host path of root.path
        self.readonly = readonly
        self.mounts = mounts
        self.devices = devices
        self.propagation = propagation
        self.masked_paths = masked_paths
        self.readonly_paths = readonly_paths
        self.terminal = terminal


def clean_path(path: str) -> str:
    """An absolute, lexically clean path: relative paths are taken from `/` (as the spec
    allows for old configs) and `..` stops at `/`."""
    cleaned = posixpath.normpath("/" + path)
    # normpath keeps a leading `//` (POSIX allows it to mean something else); we do not.
    return "/" + cleaned.lstrip("/")


def _mapping(value: Any, field: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise field_error(field, "must be an object")
    return value


def _sequence(value: Any, field: str) -> Sequence[Any]:
    if not isinstance(value, list | tuple):
        raise field_error(field, "must be an array")
    return value


def _string(value: Any, field: str, *, empty: bool = False) -> str:
    if not isinstance(value, str):
        raise field_error(field, "must be a string")
    if not value and not empty:
        raise field_error(field, "must not be empty")
    if "\0" in value:
        raise field_error(field, "must not contain a NUL byte")
    return value


def _integer(value: Any, field: str, maximum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise field_error(field, "must be an integer")
    if not 0 <= value <= maximum:
        raise field_error(field, f"must be between 0 and {maximum}")
    return value


def _absolute(value: Any, field: str) -> str:
    path = _string(value, field)
    if not path.startswith("/"):
        raise field_error(field, "must be an absolute path")
    return clean_path(path)


def bundle_directory(bundle: str | os.PathLike[str]) -> str:
    """The bundle as an absolute path (relative ones are taken from the working
    directory), without touching the file system."""
    path = os.fspath(bundle)
    return path if path.startswith("/") else posixpath.join(os.getcwd(), path)


def parse_root(spec: Mapping[str, Any], bundle: str | os.PathLike[str]) -> tuple[str, bool]:
    root = _mapping(spec.get("root"), "root") if "root" in spec else None
    if root is None:
        raise field_error("root", "is required")
    path = _string(root.get("path"), "root.path")
    readonly = root.get("readonly", False)
    if not isinstance(readonly, bool):
        raise field_error("root.readonly", "must be a boolean")
    return posixpath.normpath(posixpath.join(bundle_directory(bundle), path)), readonly


def parse_mount(
    entry: Any, index: int, bundle: str | os.PathLike[str] | None, syscalls: Syscalls | None
) -> MountSpec:
    """One entry of `mounts`. With no bundle, a bind mount's source is not resolved nor
    looked at."""
    field = f"mounts[{index}]"
    entry = _mapping(entry, field)
    destination = clean_path(_string(entry.get("destination"), f"{field}.destination"))
    if destination == "/":
        raise field_error(f"{field}.destination", "must not be the container's root")
    fstype = entry.get("type")
    if fstype is not None:
        fstype = _string(fstype, f"{field}.type")
    source = entry.get("source")
    if source is not None:
        source = _string(source, f"{field}.source", empty=True) or None
    raw_options = _sequence(entry.get("options", []), f"{field}.options")
    strings = [_string(o, f"{field}.options[{i}]", empty=True) for i, o in enumerate(raw_options)]
    options = parse_options(strings, f"{field}.options")
    if fstype == "bind" and not options.bind:
        # crun's reading: a mount of type "bind" is a bind mount even without the option.
        options = parse_options(["bind", *strings], f"{field}.options")
    if options.bind:
        if source is None:
            raise field_error(f"{field}.source", "is required for a bind mount")
        if bundle is None or syscalls is None:
            return MountSpec(field, destination, fstype, source, options)
        host = posixpath.normpath(posixpath.join(bundle_directory(bundle), source))
        try:
            is_dir = stat.S_ISDIR(syscalls.stat(host).mode)
        except OSError as exc:
            raise field_error(f"{field}.source", f"{host}: {exc.strerror}") from None
        return MountSpec(field, destination, fstype, host, options, is_dir)
    if fstype is None and not options.flags & MS_REMOUNT:
        raise field_error(f"{field}.type", "is required unless the mount is a bind mount")
    if destination == "/proc" and fstype not in ("proc", None):
        raise field_error(f"{field}.destination", "only a proc filesystem may be mounted on /proc")
    return MountSpec(field, destination, fstype, source or fstype, options)


def parse_device(entry: Any, index: int) -> DeviceSpec:
    field = f"linux.devices[{index}]"
    entry = _mapping(entry, field)
    path = _absolute(entry.get("path"), f"{field}.path")
    if path == "/":
        raise field_error(f"{field}.path", "must not be the container's root")
    kind = entry.get("type")
    if kind not in DEVICE_TYPES:
        raise field_error(f"{field}.type", "must be one of c, b, u, p")
    major = minor = 0
    if kind != "p":
        for name in ("major", "minor"):
            if name not in entry:
                raise field_error(f"{field}.{name}", f"is required for a device of type {kind}")
        major = _integer(entry["major"], f"{field}.major", MAX_DEVICE_NUMBER)
        minor = _integer(entry["minor"], f"{field}.minor", MAX_DEVICE_NUMBER)
    mode = _integer(entry.get("fileMode", 0o666), f"{field}.fileMode", MAX_ID)
    uid = _integer(entry.get("uid", 0), f"{field}.uid", MAX_ID)
    gid = _integer(entry.get("gid", 0), f"{field}.gid", MAX_ID)
    return DeviceSpec(field, path, DEVICE_TYPES[kind], major, minor, mode & 0o7777, uid, gid)


def parse_paths(linux: Mapping[str, Any], key: str) -> tuple[str, ...]:
    paths = _sequence(linux.get(key, []), f"linux.{key}")
    return tuple(_absolute(p, f"linux.{key}[{i}]") for i, p in enumerate(paths))


def parse_propagation(linux: Mapping[str, Any]) -> int:
    value = linux.get("rootfsPropagation", "")
    if value == "":
        return DEFAULT_ROOTFS_PROPAGATION
    if value not in ROOTFS_PROPAGATION:
        names = ", ".join(ROOTFS_PROPAGATION)
        raise field_error("linux.rootfsPropagation", f"must be one of {names}")
    return ROOTFS_PROPAGATION[value]


def parse_spec(
    spec: Mapping[str, Any], bundle: str | os.PathLike[str], syscalls: Syscalls
) -> RootfsSpec:
    rootfs, readonly = parse_root(spec, bundle)
    try:
        is_dir = stat.S_ISDIR(syscalls.stat(rootfs).mode)
    except OSError as exc:
        raise field_error("root.path", f"{rootfs}: {exc.strerror}") from None
    if not is_dir:
        raise field_error("root.path", f"{rootfs} is not a directory")
    mounts = _sequence(spec.get("mounts", []), "mounts")
    linux = _mapping(spec.get("linux", {}), "linux")
    devices = _sequence(linux.get("devices", []), "linux.devices")
    label = linux.get("mountLabel")
    if label is not None:
        # Accepted and ignored: capsa does not label mounts (no SELinux support).
        _string(label, "linux.mountLabel", empty=True)
    process = spec.get("process")
    terminal = isinstance(process, Mapping) and process.get("terminal") is True
    return RootfsSpec(
        rootfs=rootfs,
        readonly=readonly,
        mounts=tuple(parse_mount(m, i, bundle, syscalls) for i, m in enumerate(mounts)),
        devices=tuple(parse_device(d, i) for i, d in enumerate(devices)),
        propagation=parse_propagation(linux),
        masked_paths=parse_paths(linux, "maskedPaths"),
        readonly_paths=parse_paths(linux, "readonlyPaths"),
        terminal=terminal,
    )


def delays_readonly(mount: MountSpec) -> bool:
    """A read-only tmpfs or /dev is mounted read-write first, so that later mounts can
    create their mount points in it and devices can be made in /dev; finalize_rootfs
    then makes it read-only (as runc does)."""
    return (
        not mount.bind
        and bool(mount.options.flags & MS_RDONLY)
        and (mount.fstype == "tmpfs" or mount.destination == "/dev")
    )


class FinalSpec(Record):
    __slots__ = ("masked_paths", "readonly", "readonly_paths", "remount_readonly")

    def __init__(
        self,
        readonly: bool,
        remount_readonly: tuple[MountSpec, ...],
        masked_paths: tuple[str, ...],
        readonly_paths: tuple[str, ...],
    ) -> None:
        self.readonly = readonly
        self.remount_readonly = remount_readonly
        self.masked_paths = masked_paths
        self.readonly_paths = readonly_paths


def parse_final(spec: Mapping[str, Any]) -> FinalSpec:
    """What finalize_rootfs needs; bind sources are not looked at (after pivot_root the
    host's paths are gone)."""
    if "root" not in spec:
        raise field_error("root", "is required")
    readonly = _mapping(spec["root"], "root").get("readonly", False)
    if not isinstance(readonly, bool):
        raise field_error("root.readonly", "must be a boolean")
    entries = _sequence(spec.get("mounts", []), "mounts")
    mounts = (parse_mount(m, i, None, None) for i, m in enumerate(entries))
    linux = _mapping(spec.get("linux", {}), "linux")
    return FinalSpec(
        readonly=readonly,
        remount_readonly=tuple(m for m in mounts if delays_readonly(m)),
        masked_paths=parse_paths(linux, "maskedPaths"),
        readonly_paths=parse_paths(linux, "readonlyPaths"),
    )
