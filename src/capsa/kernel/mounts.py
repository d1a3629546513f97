"""mount(2), umount2(2) and pivot_root(2), with the flag constants the runtime needs."""

from __future__ import annotations

import ctypes

from capsa.kernel._libc import c_mount, c_syscall, c_umount2, check, syscall_number

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


def _b(value: str | None) -> bytes | None:
    return None if value is None else value.encode()


def mount(
    source: str | None, target: str, fstype: str | None, flags: int, data: str | None
) -> None:
    check(c_mount(_b(source), target.encode(), _b(fstype), flags, _b(data)), "mount", target)


def umount2(target: str, flags: int = 0) -> None:
    check(c_umount2(target.encode(), flags), "umount2", target)


def pivot_root(new_root: str, put_old: str) -> None:
    number = syscall_number("pivot_root")
    result = c_syscall(
        ctypes.c_long(number), ctypes.c_char_p(new_root.encode()), ctypes.c_char_p(put_old.encode())
    )
    check(int(result), "pivot_root", new_root)
