"""openat2(2) with RESOLVE_IN_ROOT: resolve a path as if `root` were `/`, symlinks included,
so that nothing a container image holds can send a mount or a write outside it."""

from __future__ import annotations

import os
import struct

from capsa import ffi
from capsa.kernel._libc import check, syscall_function, syscall_number

RESOLVE_NO_XDEV = 0x01
RESOLVE_NO_MAGICLINKS = 0x02
RESOLVE_NO_SYMLINKS = 0x04
RESOLVE_BENEATH = 0x08
RESOLVE_IN_ROOT = 0x10

# openat2(dirfd, path, struct open_how *how, size): the struct is passed as bytes, which
# the kernel only reads.
_c_openat2 = syscall_function(ffi.c_int, ffi.c_char_p, ffi.c_char_p, ffi.c_size_t)
_open_how = struct.Struct("<QQQ").pack  # flags, mode, resolve
_OPEN_HOW_SIZE = 24
try:
    _NR_OPENAT2 = syscall_number("openat2")
except OSError:  # an architecture capsa has no number for: fail on use, not on import
    _NR_OPENAT2 = -1
_IN_ROOT = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS
_O_CLOEXEC = os.O_CLOEXEC


def openat2(dirfd: int, path: str, flags: int, mode: int = 0, resolve: int = 0) -> int:
    if _NR_OPENAT2 < 0:
        syscall_number("openat2")  # raises
    how = _open_how(flags, mode, resolve)
    result: int = _c_openat2(_NR_OPENAT2, dirfd, path.encode(), how, _OPEN_HOW_SIZE)
    if result == -1:
        check(result, "openat2", path)
    return result


def try_open_in_root(
    root_fd: int, path: str, flags: int = os.O_PATH | os.O_CLOEXEC, mode: int = 0
) -> int:
    """open_in_root, answering -errno instead of raising: for callers to whom a missing
    path is an ordinary answer, an exception is a costly way to learn it."""
    relative = path.lstrip("/") or "."
    if _NR_OPENAT2 < 0:
        syscall_number("openat2")  # raises
    how = _open_how(flags | _O_CLOEXEC, mode, _IN_ROOT)
    result: int = _c_openat2(_NR_OPENAT2, root_fd, relative.encode(), how, _OPEN_HOW_SIZE)
    if result == -1:
        return -ffi.get_errno()
    return result


def open_in_root(
    root_fd: int, path: str, flags: int = os.O_PATH | os.O_CLOEXEC, mode: int = 0
) -> int:
    """Open `path` (absolute or relative) inside the tree at root_fd, never escaping it."""
    fd = try_open_in_root(root_fd, path, flags, mode)
    if fd < 0:
        raise OSError(-fd, f"openat2: {os.strerror(-fd)}", path.lstrip("/") or ".")
    return fd


def fd_path(fd: int) -> str:
    """A path through /proc that names exactly the object behind fd (for mount targets)."""
    return f"/proc/self/fd/{fd}"
