"""Paths inside the container's root, resolved and created without ever leaving it.

Every lookup goes through openat2(RESOLVE_IN_ROOT) on a descriptor of the rootfs, so a
symlink in the image (`/etc -> /host-etc`, `../../..`) resolves as it would inside the
container, never on the host; magic links (/proc/self/root...) are refused. Missing
directories are made one component at a time with mkdirat() in the directory that was
just resolved, and the caller mounts onto /proc/self/fd/N of the descriptor we return,
so the mount lands on exactly the object that was checked.
"""

from __future__ import annotations

import errno
import os

from capsa.kernel.paths import fd_path
from capsa.runtime.rootfs.failure import RootfsPathError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from capsa.kernel.syscalls.protocol import Syscalls

DIRECTORY_MODE = 0o755
FILE_MODE = 0o644
DIRECTORY_FLAGS = os.O_PATH | os.O_DIRECTORY
# A directory we have just made in a directory we hold: opened by name, never through a
# symlink.
CHILD_DIRECTORY_FLAGS = os.O_PATH | os.O_DIRECTORY | os.O_NOFOLLOW
MAX_SYMLINKS = 40  # as many as the kernel follows in one lookup
CREATED = ""  # _create's answer when it made the entry (no symlink says "")


def resolve(syscalls: Syscalls, root_fd: int, path: str, *, nofollow: bool = False) -> int:
    """An O_PATH descriptor of `path` inside the root (OSError if it is missing)."""
    flags = os.O_PATH | (os.O_NOFOLLOW if nofollow else 0)
    return syscalls.open_in_root(root_fd, path, flags)


def path_error(code: int, path: str) -> OSError:
    """The OSError an -errno from try_open_in_root stands for."""
    return OSError(code, os.strerror(code), path)


def make_path(
    syscalls: Syscalls, root_fd: int, path: str, *, directory: bool = True, nofollow: bool = False
) -> int:
    """An O_PATH descriptor of `path` inside the root, creating what is missing: parents
    as directories, the last component as a directory or an empty file. A symlink to a
    missing path is followed inside the root, and what it points to is created (as
    runc does); with `nofollow` the last component itself must not be a symlink."""
    flags = DIRECTORY_FLAGS if directory else os.O_PATH
    if nofollow:
        flags |= os.O_NOFOLLOW
    return _make(syscalls, root_fd, path, flags, directory, MAX_SYMLINKS)


def _make(
    syscalls: Syscalls, root_fd: int, path: str, flags: int, directory: bool, budget: int
) -> int:
    """make_path's work; `budget` is how many more symlinks to nowhere it may follow."""
    fd = syscalls.try_open_in_root(root_fd, path, flags)
    if fd >= 0:
        return fd
    return make_missing(syscalls, root_fd, path, flags, directory, -fd, budget)


def make_missing(
    syscalls: Syscalls,
    root_fd: int,
    path: str,
    flags: int,
    directory: bool,
    code: int,
    budget: int = MAX_SYMLINKS,
) -> int:
    """make_path, once looking `path` up with `flags` has answered `code` (an errno):
    unless that says it is missing, the error it stands for."""
    if code != errno.ENOENT:
        raise path_error(code, path)
    if budget <= 0:
        raise RootfsPathError(errno.ELOOP, f"{path}: too many levels of symbolic links")
    # Not normalised: `..` is left to the kernel, which resolves it physically.
    parent, _, name = path.rstrip("/").rpartition("/")
    if not name:
        raise RootfsPathError(errno.ENOENT, "the container's root does not exist")
    parent_fd = _make(syscalls, root_fd, parent or "/", DIRECTORY_FLAGS, True, budget)
    try:
        target = None
        if name not in (".", ".."):
            target = _create(syscalls, parent_fd, name, directory)
            if target == CREATED and path[-1] != "/":
                # What we have just made, in the directory we hold: no lookup from the
                # root needed, and never through a symlink.
                return syscalls.openat(parent_fd, name, flags | os.O_NOFOLLOW)
    finally:
        syscalls.close(parent_fd)
    if target:
        # A symlink to nowhere: make what it points to, inside the root, then retry.
        base = "" if target.startswith("/") else (parent or "/")
        kind = DIRECTORY_FLAGS if directory else os.O_PATH
        syscalls.close(_make(syscalls, root_fd, f"{base}/{target}", kind, directory, budget - 1))
    return syscalls.open_in_root(root_fd, path, flags)


def _create(syscalls: Syscalls, dir_fd: int, name: str, directory: bool) -> str | None:
    """Make `name` in dir_fd: CREATED if we did; if a symlink is there already, what it
    says; None if something else is."""
    try:
        if directory:
            syscalls.mkdirat(dir_fd, name, DIRECTORY_MODE)
        else:
            flags = os.O_CREAT | os.O_EXCL | os.O_WRONLY | os.O_NOFOLLOW
            syscalls.close(syscalls.openat(dir_fd, name, flags, FILE_MODE))
        return CREATED
    except OSError as exc:
        if exc.errno != errno.EEXIST:
            raise
        # It exists, yet resolving it said "no such file": a symlink to nowhere (or,
        # with `..` in the path, a directory this very walk has just made).
        try:
            return syscalls.readlink(f"{fd_path(dir_fd)}/{name}")
        except OSError as not_a_link:
            if not_a_link.errno != errno.EINVAL:
                raise
    return None
