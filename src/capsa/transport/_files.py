"""Writing files whole or not at all: a temporary file beside the target, fsync, rename."""

from __future__ import annotations

import contextlib
import os
import tempfile
from typing import IO

from capsa.errors import NotFound, PermissionDenied


def fsync_dir(path: str) -> None:
    fd = os.open(path or ".", os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class AtomicFile:
    """A file that appears at `path` only when commit() is called; discard() (or an
    exception before commit) leaves nothing behind and any earlier file untouched."""

    def __init__(self, path: str, mode: int = 0o644) -> None:
        self.path = path
        directory = os.path.dirname(os.path.abspath(path))
        if not os.path.isdir(directory):
            raise NotFound(
                f"cannot write {path}: the directory {directory} does not exist",
                hint="create it first",
            )
        try:
            fd, self.tmp_path = tempfile.mkstemp(
                prefix=f".{os.path.basename(path)}.", suffix=".tmp", dir=directory
            )
        except PermissionError:
            raise PermissionDenied(f"cannot write {path}: permission denied") from None
        os.fchmod(fd, mode & ~_umask())
        self.file: IO[bytes] = os.fdopen(fd, "w+b")
        self._done = False

    def commit(self) -> None:
        self.file.flush()
        os.fsync(self.file.fileno())
        self.file.close()
        os.rename(self.tmp_path, self.path)
        self._done = True
        fsync_dir(os.path.dirname(os.path.abspath(self.path)))

    def discard(self) -> None:
        if self._done:
            return
        self._done = True
        self.file.close()
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.tmp_path)


def write_atomic(path: str, data: bytes, mode: int = 0o644) -> None:
    target = AtomicFile(path, mode)
    try:
        target.file.write(data)
        target.commit()
    except BaseException:
        target.discard()
        raise


def _umask() -> int:
    # os.umask() can only be read by setting it; do it once, restore at once.
    mask = os.umask(0o022)
    os.umask(mask)
    return mask
