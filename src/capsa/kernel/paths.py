"""openat2(2) with RESOLVE_IN_ROOT: resolve a path as if `root` were `/`, symlinks included,
so that nothing a container image holds can send a mount or a write outside it."""

from __future__ import annotations

import ctypes
import os
import struct

from capsa.kernel._libc import c_syscall, check, syscall_number

RESOLVE_NO_XDEV = 0x01
RESOLVE_NO_MAGICLINKS = 0x02
RESOLVE_NO_SYMLINKS = 0x04
RESOLVE_BENEATH = 0x08
RESOLVE_IN_ROOT = 0x10


def openat2(dirfd: int, path: str, flags: int, mode: int = 0, resolve: int = 0) -> int:
    how = struct.pack("<QQQ", flags, mode, resolve)
    buf = ctypes.create_string_buffer(how, len(how))
    number = syscall_number("openat2")
    result = c_syscall(
        ctypes.c_long(number),
        ctypes.c_int(dirfd),
        ctypes.c_char_p(path.encode()),
        buf,
        ctypes.c_size_t(len(how)),
    )
    return check(int(result), "openat2", path)


def open_in_root(
    root_fd: int, path: str, flags: int = os.O_PATH | os.O_CLOEXEC, mode: int = 0
) -> int:
    """Open `path` (absolute or relative) inside the tree at root_fd, never escaping it."""
    relative = path.lstrip("/") or "."
    return openat2(
        root_fd, relative, flags | os.O_CLOEXEC, mode, RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS
    )


def fd_path(fd: int) -> str:
    """A path through /proc that names exactly the object behind fd (for mount targets)."""
    return f"/proc/self/fd/{fd}"
