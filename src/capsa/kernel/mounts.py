"""mount(2), umount2(2) and pivot_root(2), with the flag constants the runtime needs."""

from __future__ import annotations

from capsa import ffi
from capsa.kernel._libc import c_mount, c_umount2, check, syscall_function, syscall_number

MS_RDONLY = 0x1
MS_NOSUID = 0x2
MS_NODEV = 0x4
MS_NOEXEC = 0x8
MS_SYNCHRONOUS = 0x10
MS_REMOUNT = 0x20
MS_MANDLOCK = 0x40
MS_DIRSYNC = 0x80
MS_NOSYMFOLLOW = 0x100
MS_NOATIME = 0x400
MS_NODIRATIME = 0x800
MS_BIND = 0x1000
MS_MOVE = 0x2000
MS_REC = 0x4000
MS_SILENT = 0x8000
MS_POSIXACL = 0x10000
MS_UNBINDABLE = 0x20000
MS_PRIVATE = 0x40000
MS_SLAVE = 0x80000
MS_SHARED = 0x100000
MS_RELATIME = 0x200000
MS_STRICTATIME = 0x1000000
MS_LAZYTIME = 0x2000000

MNT_FORCE = 0x1
MNT_DETACH = 0x2
MNT_EXPIRE = 0x4
UMOUNT_NOFOLLOW = 0x8

PROPAGATION_FLAGS = MS_SHARED | MS_SLAVE | MS_PRIVATE | MS_UNBINDABLE


def mount(
    source: str | None, target: str, fstype: str | None, flags: int, data: str | None
) -> None:
    result = c_mount(
        None if source is None else source.encode(),
        target.encode(),
        None if fstype is None else fstype.encode(),
        flags,
        None if data is None else data.encode(),
    )
    if result == -1:
        check(result, "mount", target)


def umount2(target: str, flags: int = 0) -> None:
    if c_umount2(target.encode(), flags) == -1:
        check(-1, "umount2", target)


_c_pivot_root = syscall_function(ffi.c_char_p, ffi.c_char_p)
try:
    _NR_PIVOT_ROOT = syscall_number("pivot_root")
except OSError:  # an architecture capsa has no number for: fail on use, not on import
    _NR_PIVOT_ROOT = -1


def pivot_root(new_root: str, put_old: str) -> None:
    if _NR_PIVOT_ROOT < 0:
        syscall_number("pivot_root")  # raises
    if _c_pivot_root(_NR_PIVOT_ROOT, new_root.encode(), put_old.encode()) == -1:
        check(-1, "pivot_root", new_root)
