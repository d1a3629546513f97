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
    MS_BIND,
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

_set = object.__setattr__  # sets a Record's fields in __init__ without its per-field check

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
    field: str  # `mounts[3]`, for messages
    destination: str  # absolute, lexically clean path inside the container
    fstype: str | None
    source: str | None  # bind mounts: an absolute host path
    options: MountOptions
    source_is_dir: bool  # bind mounts: what to create at the destination

    def __init__(
        self,
        field: str,
        destination: str,
        fstype: str | None,
        source: str | None,
        options: MountOptions,
        source_is_dir: bool = True,
    ) -> None:
        # object.__setattr__, not Record's check of each field: this runs for every mount.
        _set(self, "field", field)
        _set(self, "destination", destination)
        _set(self, "fstype", fstype)
        _set(self, "source", source)
        _set(self, "options", options)
        _set(self, "source_is_dir", source_is_dir)

    @property
    def bind(self) -> bool:
        return self.options.bind


class DeviceSpec(Record):
    __slots__ = ("field", "file_type", "gid", "major", "minor", "mode", "path", "uid")
    field: str
    path: str  # absolute, clean, inside the container
    file_type: int  # S_IFCHR, S_IFBLK or S_IFIFO
    major: int
    minor: int
    mode: int  # permission bits
    uid: int
    gid: int

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
        _set(self, "field", field)
        _set(self, "path", path)
        _set(self, "file_type", file_type)
        _set(self, "major", major)
        _set(self, "minor", minor)
        _set(self, "mode", mode)
        _set(self, "uid", uid)
        _set(self, "gid", gid)


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
    rootfs: str  # absolute host path of root.path
    readonly: bool
    mounts: tuple[MountSpec, ...]
    devices: tuple[DeviceSpec, ...]
    propagation: int
    masked_paths: tuple[str, ...]
    readonly_paths: tuple[str, ...]
    terminal: bool

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
        _set(self, "rootfs", rootfs)
        _set(self, "readonly", readonly)
        _set(self, "mounts", mounts)
        _set(self, "devices", devices)
        _set(self, "propagation", propagation)
        _set(self, "masked_paths", masked_paths)
        _set(self, "readonly_paths", readonly_paths)
        _set(self, "terminal", terminal)


def clean_path(path: str) -> str:
    """An absolute, lexically clean path: relative paths are taken from `/` (as the spec
    allows for old configs) and `..` stops at `/`."""
    if path[:1] == "/" and path[-1] != "/" and "//" not in path and "/." not in path:
        return path  # clean already: no empty, `.` or `..` component, no trailing slash
    cleaned = posixpath.normpath("/" + path)
    # normpath keeps a leading `//` (POSIX allows it to mean something else); we do not.
    return "/" + cleaned.lstrip("/")


def _mapping(value: Any, field: str) -> Mapping[str, Any]:
    if type(value) is not dict and not isinstance(value, Mapping):
        raise field_error(field, "must be an object")
    return value


def _sequence(value: Any, field: str) -> Sequence[Any]:
    if not isinstance(value, (list, tuple)):
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
    if path[0] != "/":
        raise field_error(field, "must be an absolute path")
    return clean_path(path)


def bundle_directory(bundle: str | os.PathLike[str]) -> str:
    """The bundle as an absolute path (relative ones are taken from the working
    directory), without touching the file system."""
    path = os.fspath(bundle)
    return path if path.startswith("/") else posixpath.join(os.getcwd(), path)


def _host_path(bundle: str | os.PathLike[str], path: str) -> str:
    """posixpath.normpath(posixpath.join(bundle_directory(bundle), path))."""
    directory = bundle_directory(bundle)
    if path[0] != "/":
        path = f"{directory}{path}" if directory.endswith("/") else f"{directory}/{path}"
    if path[-1] == "/" or "//" in path or "/." in path:
        path = posixpath.normpath(path)
    return path


def parse_mount(
    entry: Any, index: int, bundle: str | os.PathLike[str] | None, syscalls: Syscalls | None
) -> MountSpec:
    """One entry of `mounts`. With no bundle, a bind mount's source is not resolved nor
    looked at."""
    # The checks of _mapping, _string and clean_path are written out for the usual case:
    # this runs for every entry, in a process that has run none of this code before.
    field = f"mounts[{index}]"
    if type(entry) is not dict:
        entry = _mapping(entry, field)
    get = entry.get
    destination = get("destination")
    if type(destination) is not str or not destination or "\0" in destination:
        destination = _string(destination, f"{field}.destination")  # raises, or a str subclass
    if (
        destination[0] != "/"
        or destination[-1] == "/"
        or "//" in destination
        or "/." in destination
    ):
        destination = clean_path(destination)
        if destination == "/":
            raise field_error(f"{field}.destination", "must not be the container's root")
    fstype = get("type")
    if fstype is not None and (type(fstype) is not str or not fstype or "\0" in fstype):
        fstype = _string(fstype, f"{field}.type")
    source = get("source")
    if source is not None:
        if type(source) is not str or "\0" in source:
            source = _string(source, f"{field}.source", empty=True)
        source = source or None
    raw_options = get("options", ())
    if type(raw_options) is not list:
        raw_options = _sequence(raw_options, f"{field}.options")
    for i, option in enumerate(raw_options):
        if type(option) is not str or "\0" in option:
            _string(option, f"{field}.options[{i}]", empty=True)
    options = parse_options(raw_options, f"{field}.options")
    if fstype == "bind" and not options.flags & MS_BIND:
        # crun's reading: a mount of type "bind" is a bind mount even without the option.
        options = parse_options(["bind", *raw_options], f"{field}.options")
    if options.flags & MS_BIND:
        if source is None:
            raise field_error(f"{field}.source", "is required for a bind mount")
        if bundle is None or syscalls is None:
            return MountSpec(field, destination, fstype, source, options)
        host = _host_path(bundle, source)
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
    paths = linux.get(key, ())
    if type(paths) is not list:
        paths = _sequence(paths, f"linux.{key}")
    parsed: list[str] = []
    for i, path in enumerate(paths):
        if type(path) is not str or path[:1] != "/" or "\0" in path:
            path = _absolute(path, f"linux.{key}[{i}]")  # raises, or a str subclass
        elif path[-1] == "/" or "//" in path or "/." in path:
            path = clean_path(path)
        parsed.append(path)
    return tuple(parsed)


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
    root = spec.get("root") if "root" in spec else None
    if type(root) is not dict:
        if root is None:
            raise field_error("root", "is required")
        root = _mapping(root, "root")
    rootfs = root.get("path")
    if type(rootfs) is not str or not rootfs or "\0" in rootfs:
        rootfs = _string(rootfs, "root.path")  # raises, or a str subclass
    readonly = root.get("readonly", False)
    if readonly is not False and readonly is not True:
        raise field_error("root.readonly", "must be a boolean")
    rootfs = _host_path(bundle, rootfs)
    try:
        is_dir = stat.S_ISDIR(syscalls.stat(rootfs).mode)
    except OSError as exc:
        raise field_error("root.path", f"{rootfs}: {exc.strerror}") from None
    if not is_dir:
        raise field_error("root.path", f"{rootfs} is not a directory")
    entries = spec.get("mounts", ())
    if type(entries) is not list:
        entries = _sequence(entries, "mounts")
    linux = spec.get("linux", {})
    if type(linux) is not dict:
        linux = _mapping(linux, "linux")
    devices = linux.get("devices", ())
    if type(devices) is not list:
        devices = _sequence(devices, "linux.devices")
    label = linux.get("mountLabel")
    if label is not None:
        # Accepted and ignored: capsa does not label mounts (no SELinux support).
        _string(label, "linux.mountLabel", empty=True)
    process = spec.get("process")
    terminal = (type(process) is dict or isinstance(process, Mapping)) and process.get(
        "terminal"
    ) is True
    mounts = []
    for i, entry in enumerate(entries):
        mounts.append(parse_mount(entry, i, bundle, syscalls))
    parsed_devices = []
    for i, entry in enumerate(devices):
        parsed_devices.append(parse_device(entry, i))
    propagation = linux.get("rootfsPropagation", "")
    if propagation == "":
        propagation = DEFAULT_ROOTFS_PROPAGATION
    elif propagation in ROOTFS_PROPAGATION:
        propagation = ROOTFS_PROPAGATION[propagation]
    else:
        propagation = parse_propagation(linux)  # raises
    return RootfsSpec(
        rootfs,
        readonly,
        tuple(mounts),
        tuple(parsed_devices),
        propagation,
        parse_paths(linux, "maskedPaths"),
        parse_paths(linux, "readonlyPaths"),
        terminal,
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
    readonly: bool
    remount_readonly: tuple[MountSpec, ...]
    masked_paths: tuple[str, ...]
    readonly_paths: tuple[str, ...]

    def __init__(
        self,
        readonly: bool,
        remount_readonly: tuple[MountSpec, ...],
        masked_paths: tuple[str, ...],
        readonly_paths: tuple[str, ...],
    ) -> None:
        _set(self, "readonly", readonly)
        _set(self, "remount_readonly", remount_readonly)
        _set(self, "masked_paths", masked_paths)
        _set(self, "readonly_paths", readonly_paths)


def parse_final(spec: Mapping[str, Any]) -> FinalSpec:
    """What finalize_rootfs needs; bind sources are not looked at (after pivot_root the
    host's paths are gone)."""
    if "root" not in spec:
        raise field_error("root", "is required")
    root = spec["root"]
    if type(root) is not dict:
        root = _mapping(root, "root")
    readonly = root.get("readonly", False)
    if readonly is not False and readonly is not True:
        raise field_error("root.readonly", "must be a boolean")
    entries = spec.get("mounts", ())
    if type(entries) is not list:
        entries = _sequence(entries, "mounts")
    linux = spec.get("linux", {})
    if type(linux) is not dict:
        linux = _mapping(linux, "linux")
    remount_readonly = []
    for i, entry in enumerate(entries):
        mount = parse_mount(entry, i, None, None)
        if mount.options.flags & MS_RDONLY and delays_readonly(mount):
            remount_readonly.append(mount)
    return FinalSpec(
        readonly,
        tuple(remount_readonly),
        parse_paths(linux, "maskedPaths"),
        parse_paths(linux, "readonlyPaths"),
    )
