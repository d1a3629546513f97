"""Small file-system helpers the store shares: file locks, atomic writes, fsync of dirs."""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import time
from collections.abc import Callable, Iterator

from capsa.errors import Timeout

CHUNK = 1 << 20  # every stream in the store moves in 1 MiB pieces


def fsync_dir(path: str | os.PathLike[str]) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_atomic(
    path: str | os.PathLike[str], data: bytes, mode: int = 0o644, *, durable: bool = True
) -> None:
    """Write a small file whole or not at all: temporary file, fsync, rename, fsync dir.
    `durable=False` leaves out the fsyncs, for files made again at every use (a start's
    config.json and /etc files): readers still never see half a file."""
    path = os.fspath(path)
    directory = os.path.dirname(path) or "."
    tmp = f"{path}.tmp-{os.getpid()}-{time.monotonic_ns()}"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, mode)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
        if durable:
            os.fsync(fd)
    except BaseException:
        os.close(fd)
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    os.close(fd)
    os.rename(tmp, path)
    if durable:
        fsync_dir(directory)


class FileLock:
    """An flock(2) on a lock file that may be deleted by whoever holds it.

    After locking, the file is checked to still be the one at `path` (same inode): if a
    holder removed it meanwhile, we locked an orphan and try again on the new file.
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = os.fspath(path)
        self.fd = -1

    def acquire(
        self, *, shared: bool = False, blocking: bool = True, timeout: float | None = None
    ) -> bool:
        operation = fcntl.LOCK_SH if shared else fcntl.LOCK_EX
        deadline = None if timeout is None else time.monotonic() + timeout
        delay = 0.005
        while True:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
            try:
                if deadline is None and blocking:
                    fcntl.flock(fd, operation)
                else:
                    fcntl.flock(fd, operation | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(fd)
                if not blocking:
                    return False
                if deadline is not None and time.monotonic() >= deadline:
                    raise Timeout(
                        f"timed out waiting for the lock {self.path}",
                        hint="another capsa process holds it; retry when it has finished",
                    ) from None
                time.sleep(delay)
                delay = min(delay * 2, 0.1)
                continue
            except BaseException:
                os.close(fd)
                raise
            try:
                current = os.stat(self.path)
            except FileNotFoundError:
                os.close(fd)
                continue
            held = os.fstat(fd)
            if (current.st_dev, current.st_ino) != (held.st_dev, held.st_ino):
                os.close(fd)
                continue
            self.fd = fd
            return True

    def release(self, *, remove: bool = False) -> None:
        """Unlock; with `remove`, delete the lock file first (only its holder may)."""
        if self.fd < 0:
            return
        if remove:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self.path)
        os.close(self.fd)
        self.fd = -1

    @property
    def held(self) -> bool:
        return self.fd >= 0

    def __enter__(self) -> FileLock:
        self.acquire()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


@contextlib.contextmanager
def locked(path: str | os.PathLike[str], *, shared: bool = False) -> Iterator[FileLock]:
    lock = FileLock(path)
    lock.acquire(shared=shared)
    try:
        yield lock
    finally:
        lock.release()


_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC


def remove_tree_at(dir_fd: int | None, name: str | bytes) -> None:
    """Remove `name` (relative to dir_fd) and everything under it: never following a
    symlink, without recursion limits, and making a read-only directory writable when
    that is what stops an unprivileged caller."""
    try:
        top = os.open(name, _DIR_FLAGS, dir_fd=dir_fd)
    except FileNotFoundError:
        return
    except OSError as error:
        if error.errno not in (errno.ENOTDIR, errno.ELOOP):
            raise
        with contextlib.suppress(FileNotFoundError):
            os.unlink(name, dir_fd=dir_fd)
        return
    # (descriptor, names still to visit, own name) for each directory being emptied
    stack: list[tuple[int, list[str], str]] = [(top, _children(top), "")]
    try:
        while stack:
            fd, names, _ = stack[-1]
            if names:
                child = names.pop()
                try:
                    child_fd = _open_dir(child, fd)
                except FileNotFoundError:
                    continue
                except OSError as error:
                    if error.errno not in (errno.ENOTDIR, errno.ELOOP):
                        raise
                    _as_writable(fd, os.unlink, child)
                    continue
                stack.append((child_fd, _children(child_fd), child))
                continue
            _, _, own = stack.pop()
            os.close(fd)
            if stack:
                _as_writable(stack[-1][0], os.rmdir, own)
    except BaseException:
        for fd, _, _ in stack:
            os.close(fd)
        raise
    try:
        os.rmdir(name, dir_fd=dir_fd)
    except PermissionError:
        if dir_fd is None:
            os.chmod(os.path.dirname(os.path.abspath(os.fsdecode(name))), 0o700)
        else:
            os.fchmod(dir_fd, 0o700)
        os.rmdir(name, dir_fd=dir_fd)


def _open_dir(name: str, dir_fd: int) -> int:
    """Open a directory to empty it, making it readable first if need be: overlayfs
    mounted in a user namespace leaves its `work/work` at mode 000, owned by the user."""
    try:
        return os.open(name, _DIR_FLAGS, dir_fd=dir_fd)
    except PermissionError:
        os.chmod(name, 0o700, dir_fd=dir_fd, follow_symlinks=False)
        return os.open(name, _DIR_FLAGS, dir_fd=dir_fd)


def _children(fd: int) -> list[str]:
    with os.scandir(fd) as entries:
        return [entry.name for entry in entries]


def _as_writable(dir_fd: int, remove: Callable[..., None], name: str) -> None:
    try:
        remove(name, dir_fd=dir_fd)
    except FileNotFoundError:
        pass
    except PermissionError:
        os.fchmod(dir_fd, 0o700)
        remove(name, dir_fd=dir_fd)


def remove_tree(path: str | os.PathLike[str]) -> None:
    remove_tree_at(None, os.fspath(path))


def chmod_nofollow(dir_fd: int, name: str | bytes, mode: int) -> None:
    """chmod a node without following it if it is a symlink (fchmodat has no working
    AT_SYMLINK_NOFOLLOW), through an O_PATH descriptor of the node itself."""
    fd = os.open(name, os.O_PATH | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=dir_fd)
    try:
        os.chmod(f"/proc/self/fd/{fd}", mode)
    finally:
        os.close(fd)
