"""The mount option table of the OCI runtime-spec (config.md, "Linux mount options") and
its parser: option strings -> mount(2) flags, propagation changes, recursive attributes
for mount_setattr(2) and the filesystem's data string.

The table is runc's (libcontainer/specconv): later options override earlier ones
(`ro,rw` is read-write), and options nobody knows go, comma-joined and in order, to the
filesystem as its data (`mode=755,size=65536k`).
"""

from __future__ import annotations

from capsa._record import Record
from capsa.errors import Unavailable, field_error
from capsa.kernel.mounts import (
    MS_BIND,
    MS_DIRSYNC,
    MS_LAZYTIME,
    MS_MANDLOCK,
    MS_NOATIME,
    MS_NODEV,
    MS_NODIRATIME,
    MS_NOEXEC,
    MS_NOSUID,
    MS_NOSYMFOLLOW,
    MS_POSIXACL,
    MS_PRIVATE,
    MS_RDONLY,
    MS_REC,
    MS_RELATIME,
    MS_REMOUNT,
    MS_SHARED,
    MS_SILENT,
    MS_SLAVE,
    MS_STRICTATIME,
    MS_SYNCHRONOUS,
    MS_UNBINDABLE,
)

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Sequence

_set = object.__setattr__

MS_I_VERSION = 0x800000

# The atime family: the kernel locks it as one unit in a user namespace.
ATIME_FLAGS = MS_NOATIME | MS_RELATIME | MS_STRICTATIME | MS_NODIRATIME

# option -> (clears the flag?, flag)
FLAG_OPTIONS: dict[str, tuple[bool, int]] = {
    "acl": (False, MS_POSIXACL),
    "async": (True, MS_SYNCHRONOUS),
    "atime": (True, MS_NOATIME),
    "bind": (False, MS_BIND),
    "defaults": (False, 0),
    "dev": (True, MS_NODEV),
    "diratime": (True, MS_NODIRATIME),
    "dirsync": (False, MS_DIRSYNC),
    "exec": (True, MS_NOEXEC),
    "iversion": (False, MS_I_VERSION),
    "lazytime": (False, MS_LAZYTIME),
    "loud": (True, MS_SILENT),
    "mand": (False, MS_MANDLOCK),
    "noacl": (True, MS_POSIXACL),
    "noatime": (False, MS_NOATIME),
    "nodev": (False, MS_NODEV),
    "nodiratime": (False, MS_NODIRATIME),
    "noexec": (False, MS_NOEXEC),
    "noiversion": (True, MS_I_VERSION),
    "nolazytime": (True, MS_LAZYTIME),
    "nomand": (True, MS_MANDLOCK),
    "norelatime": (True, MS_RELATIME),
    "nostrictatime": (True, MS_STRICTATIME),
    "nosuid": (False, MS_NOSUID),
    "nosymfollow": (False, MS_NOSYMFOLLOW),
    "rbind": (False, MS_BIND | MS_REC),
    "relatime": (False, MS_RELATIME),
    "remount": (False, MS_REMOUNT),
    "ro": (False, MS_RDONLY),
    "rw": (True, MS_RDONLY),
    "silent": (False, MS_SILENT),
    "strictatime": (False, MS_STRICTATIME),
    "suid": (True, MS_NOSUID),
    "symfollow": (True, MS_NOSYMFOLLOW),
    "sync": (False, MS_SYNCHRONOUS),
}

PROPAGATION_OPTIONS: dict[str, int] = {
    "private": MS_PRIVATE,
    "rprivate": MS_PRIVATE | MS_REC,
    "shared": MS_SHARED,
    "rshared": MS_SHARED | MS_REC,
    "slave": MS_SLAVE,
    "rslave": MS_SLAVE | MS_REC,
    "unbindable": MS_UNBINDABLE,
    "runbindable": MS_UNBINDABLE | MS_REC,
}

# mount_setattr(2) attributes, for the recursive options (kernel >= 5.12).
MOUNT_ATTR_RDONLY = 0x1
MOUNT_ATTR_NOSUID = 0x2
MOUNT_ATTR_NODEV = 0x4
MOUNT_ATTR_NOEXEC = 0x8
MOUNT_ATTR__ATIME = 0x70
MOUNT_ATTR_RELATIME = 0x0
MOUNT_ATTR_NOATIME = 0x10
MOUNT_ATTR_STRICTATIME = 0x20
MOUNT_ATTR_NODIRATIME = 0x80
MOUNT_ATTR_NOSYMFOLLOW = 0x200000

# option -> (clears the attribute?, attribute)
RECURSIVE_OPTIONS: dict[str, tuple[bool, int]] = {
    "rro": (False, MOUNT_ATTR_RDONLY),
    "rrw": (True, MOUNT_ATTR_RDONLY),
    "rnosuid": (False, MOUNT_ATTR_NOSUID),
    "rsuid": (True, MOUNT_ATTR_NOSUID),
    "rnodev": (False, MOUNT_ATTR_NODEV),
    "rdev": (True, MOUNT_ATTR_NODEV),
    "rnoexec": (False, MOUNT_ATTR_NOEXEC),
    "rexec": (True, MOUNT_ATTR_NOEXEC),
    "rnodiratime": (False, MOUNT_ATTR_NODIRATIME),
    "rdiratime": (True, MOUNT_ATTR_NODIRATIME),
    "rrelatime": (False, MOUNT_ATTR_RELATIME),
    "rnorelatime": (True, MOUNT_ATTR_RELATIME),
    "rnoatime": (False, MOUNT_ATTR_NOATIME),
    "ratime": (True, MOUNT_ATTR_NOATIME),
    "rstrictatime": (False, MOUNT_ATTR_STRICTATIME),
    "rnostrictatime": (True, MOUNT_ATTR_STRICTATIME),
    "rnosymfollow": (False, MOUNT_ATTR_NOSYMFOLLOW),
    "rsymfollow": (True, MOUNT_ATTR_NOSYMFOLLOW),
}

# Options the spec lists that capsa does not implement: refused, never silently dropped.
UNSUPPORTED_OPTIONS: dict[str, str] = {
    "tmpcopyup": "copying the destination's contents into a tmpfs (tmpcopyup) is not supported",
    "idmap": "idmapped mounts (idmap) are not supported",
    "ridmap": "idmapped mounts (ridmap) are not supported",
}


class MountOptions(Record):
    __slots__ = ("attr_clr", "attr_set", "cleared", "data", "flags", "propagation")
    flags: int  # MS_* flags to set
    cleared: int  # MS_* flags the options explicitly turn off (rw, suid, dev...)
    propagation: tuple[int, ...]  # applied, in order, after the mount
    attr_set: int  # MOUNT_ATTR_* to set recursively
    attr_clr: int  # MOUNT_ATTR_* to clear recursively
    data: str | None  # options the filesystem interprets

    def __init__(
        self,
        flags: int = 0,
        cleared: int = 0,
        propagation: tuple[int, ...] = (),
        attr_set: int = 0,
        attr_clr: int = 0,
        data: str | None = None,
    ) -> None:
        # object.__setattr__, not Record's check of each field: this runs for every mount.
        _set(self, "flags", flags)
        _set(self, "cleared", cleared)
        _set(self, "propagation", propagation)
        _set(self, "attr_set", attr_set)
        _set(self, "attr_clr", attr_clr)
        _set(self, "data", data)

    @property
    def bind(self) -> bool:
        return bool(self.flags & MS_BIND)

    @property
    def recursive_attrs(self) -> bool:
        return bool(self.attr_set or self.attr_clr)


# Parsed option lists: a start parses each entry twice (prepare_rootfs, finalize_rootfs),
# and MountOptions is immutable. Bounded, for long-lived processes.
_PARSED: dict[tuple[str, ...], MountOptions] = {}
_PARSED_MAX = 256


def parse_options(options: Sequence[str], field: str) -> MountOptions:
    """Options of one mount entry; `field` names it in errors (`mounts[2].options`)."""
    key = tuple(options)
    parsed = _PARSED.get(key)
    if parsed is not None:
        return parsed
    flags = cleared = attr_set = attr_clr = 0
    propagation: list[int] = []
    data: list[str] = []
    for index, option in enumerate(key):
        known = FLAG_OPTIONS.get(option)
        if known is not None:
            clear, flag = known
            if clear:
                flags &= ~flag
                cleared |= flag
            else:
                flags |= flag
                cleared &= ~flag
            continue
        pflag = PROPAGATION_OPTIONS.get(option)
        if pflag is not None:
            propagation.append(pflag)
            continue
        recursive = RECURSIVE_OPTIONS.get(option)
        if recursive is not None:
            clear, attr = recursive
            if clear:
                attr_clr |= attr
                attr_set &= ~attr
            else:
                attr_set |= attr
                attr_clr &= ~attr
                if attr & MOUNT_ATTR__ATIME == attr:
                    # An atime mode is set by clearing the whole atime field first.
                    attr_clr |= MOUNT_ATTR__ATIME
            continue
        reason = UNSUPPORTED_OPTIONS.get(option)
        if reason is not None:
            raise Unavailable(
                f"invalid {field}[{index}]: {reason}",
                hint="remove the option, or run the container with runc or crun",
            )
        if not option:
            raise field_error(f"{field}[{index}]", "must not be empty")
        data.append(option)
    parsed = MountOptions(
        flags, cleared, tuple(propagation), attr_set, attr_clr, ",".join(data) or None
    )
    if len(_PARSED) < _PARSED_MAX:  # errors raised above are not kept
        _PARSED[key] = parsed
    return parsed


# statvfs(3) f_flag bits. Most equal their MS_* twin; relatime does not.
ST_RDONLY = 0x1
ST_NOSUID = 0x2
ST_NODEV = 0x4
ST_NOEXEC = 0x8
ST_NOATIME = 0x400
ST_NODIRATIME = 0x800
ST_RELATIME = 0x1000

LOCKABLE_FLAGS = MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC


def statvfs_to_mount_flags(st_flag: int) -> int:
    """The per-mount flags a statvfs f_flag shows, as MS_* flags (the ones the kernel
    locks when a mount is copied into a less privileged user namespace)."""
    flags = st_flag & (ST_RDONLY | ST_NOSUID | ST_NODEV | ST_NOEXEC | ST_NOATIME | ST_NODIRATIME)
    if st_flag & ST_RELATIME:
        flags |= MS_RELATIME
    return flags


def keep_locked(requested: int, cleared: int, current: int) -> int:
    """`requested` flags plus those of `current` a user namespace would refuse to drop:
    ro/nosuid/nodev/noexec unless the options explicitly cleared them (then the kernel
    must say no, rather than us quietly ignoring the user), and the atime family unless
    the options chose an atime mode themselves."""
    flags = requested | (current & LOCKABLE_FLAGS & ~cleared)
    if not (requested | cleared) & ATIME_FLAGS:
        flags |= current & ATIME_FLAGS
    return flags
