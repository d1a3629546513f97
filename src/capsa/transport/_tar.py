"""Reading members of a tar archive in place, and writing one as a stream.

Archives are never extracted to disk: TarReader indexes the members and hands out streams
of them (following the archive's own links); TarWriter appends members as they come and,
if a member's content fails verification half-way, cuts the archive back to where that
member began, so the archive never holds a partial blob.
"""

from __future__ import annotations

import posixpath
import tarfile
from typing import IO, TYPE_CHECKING

from capsa.errors import InvalidArgument, NotFound

if TYPE_CHECKING:
    from collections.abc import Callable

    from capsa.transport.types import BlobReader

_MAX_LINK_HOPS = 16
_BLOCK = tarfile.BLOCKSIZE
_RECORD = tarfile.RECORDSIZE


def normalize_name(name: str) -> str | None:
    """A member name as a clean relative path (`./a//b` -> `a/b`); None if it points
    outside the archive's root."""
    path = posixpath.normpath("/" + name.lstrip("/"))
    if path == "/":
        return None
    return path[1:]


class TarReader:
    """Random access to the files of a tar archive (plain or compressed) by name."""

    def __init__(self, path: str, description: str) -> None:
        self.description = description
        try:
            self._tar = tarfile.open(path, "r:*")  # noqa: SIM115 (kept open: members stream from it)
        except FileNotFoundError:
            raise NotFound(f"{description}: no such file {path}") from None
        except IsADirectoryError:
            raise InvalidArgument(
                f"{description}: {path} is a directory, not an archive",
                hint="an OCI layout directory is written oci:PATH",
            ) from None
        except (tarfile.TarError, EOFError, OSError) as exc:
            raise InvalidArgument(f"{description}: {path} is not a tar archive ({exc})") from None
        self._members: dict[str, tarfile.TarInfo] = {}
        try:
            for info in self._tar:
                name = normalize_name(info.name)
                if name is not None:
                    self._members[name] = info  # a later entry wins, as on extraction
        except (tarfile.TarError, EOFError, OSError) as exc:
            self._tar.close()
            raise InvalidArgument(
                f"{description}: {path} is a damaged tar archive ({exc})"
            ) from None

    def names(self) -> list[str]:
        return list(self._members)

    def exists(self, name: str) -> bool:
        try:
            self._resolve(name)
        except NotFound:
            return False
        return True

    def size(self, name: str) -> int:
        return self._resolve(name).size

    def open(self, name: str) -> BlobReader:
        info = self._resolve(name)
        stream = self._tar.extractfile(info)
        if stream is None:  # cannot happen: _resolve returns regular files only
            raise NotFound(f"{self.description}: {name} is not a regular file")
        return stream

    def close(self) -> None:
        self._tar.close()

    def _resolve(self, name: str) -> tarfile.TarInfo:
        wanted = normalize_name(name)
        for _ in range(_MAX_LINK_HOPS):
            info = self._members.get(wanted) if wanted is not None else None
            if info is None:
                raise NotFound(f"{self.description}: the archive has no {name}")
            if info.isreg():
                return info
            if info.issym():
                base = posixpath.dirname(wanted or "")
                target = info.linkname
                wanted = normalize_name(
                    target if target.startswith("/") else posixpath.join(base, target)
                )
            elif info.islnk():
                wanted = normalize_name(info.linkname)
            else:
                raise NotFound(f"{self.description}: {name} in the archive is not a file")
        raise InvalidArgument(f"{self.description}: {name} is a loop of links in the archive")


class TarWriter:
    """Appends members to a tar stream in `file` (seekable, opened for writing).

    Members are written with fixed owner (0:0), mode and mtime (0) so that the same
    image always gives the same archive bytes.
    """

    def __init__(self, file: IO[bytes]) -> None:
        self._file = file
        self._names: set[str] = set()

    def __contains__(self, name: str) -> bool:
        return name in self._names

    def add_stream(
        self, name: str, size: int, copy: Callable[[Callable[[bytes], object]], object]
    ) -> None:
        """Add a regular file of `size` bytes, whose content `copy(write)` writes.

        `copy` must write exactly `size` bytes or raise; on any exception the archive is
        cut back to before this member and the exception propagates.
        """
        start = self._file.tell()
        try:
            self._file.write(self._header(name, tarfile.REGTYPE, size))
            written = 0

            def write(chunk: bytes) -> None:
                nonlocal written
                written += len(chunk)
                self._file.write(chunk)

            copy(write)
            if written != size:
                raise InvalidArgument(f"{name}: wrote {written} bytes, expected {size}")
            self._pad(size)
        except BaseException:
            self._file.seek(start)
            self._file.truncate()
            raise
        self._names.add(name)

    def add_bytes(self, name: str, data: bytes) -> None:
        self.add_stream(name, len(data), lambda write: write(data))

    def add_directory(self, name: str) -> None:
        if name not in self._names:
            self._file.write(self._header(name, tarfile.DIRTYPE, 0, mode=0o755))
            self._names.add(name)

    def add_symlink(self, name: str, target: str) -> None:
        self._file.write(self._header(name, tarfile.SYMTYPE, 0, mode=0o777, linkname=target))
        self._names.add(name)

    def finish(self) -> None:
        """Write the end-of-archive marker and pad to a whole record, as tar(1) does."""
        self._file.write(b"\0" * (2 * _BLOCK))
        remainder = self._file.tell() % _RECORD
        if remainder:
            self._file.write(b"\0" * (_RECORD - remainder))

    def _pad(self, size: int) -> None:
        remainder = size % _BLOCK
        if remainder:
            self._file.write(b"\0" * (_BLOCK - remainder))

    @staticmethod
    def _header(
        name: str, kind: bytes, size: int, *, mode: int = 0o644, linkname: str = ""
    ) -> bytes:
        info = tarfile.TarInfo(name)
        info.type = kind
        info.size = size
        info.mode = mode
        info.mtime = 0
        info.linkname = linkname
        info.uname = info.gname = ""
        return info.tobuf(format=tarfile.PAX_FORMAT)
