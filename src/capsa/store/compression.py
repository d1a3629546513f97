"""Layer compression: detection by magic bytes, bounded streaming decompression, and
compressors for the layers capsa writes.

Detection looks at the bytes, not the media type: registries and archives mislabel
layers often enough (a "tar+gzip" that is plain tar) that the bytes are the only truth.
Decompression never returns more than one chunk per step, so a small bomb cannot
balloon in memory.
"""

from __future__ import annotations

import importlib
import zlib
from collections.abc import Callable, Iterator
from enum import Enum
from types import ModuleType
from typing import IO, TYPE_CHECKING, Protocol, cast

if TYPE_CHECKING:
    import zstandard

from capsa.errors import InvalidArgument
from capsa.store._files import CHUNK


class Compression(Enum):
    NONE = "none"
    GZIP = "gzip"
    ZSTD = "zstd"
    BZIP2 = "bzip2"
    XZ = "xz"


_MAGIC = (
    (b"\x1f\x8b", Compression.GZIP),
    (b"\x28\xb5\x2f\xfd", Compression.ZSTD),
    (b"BZh", Compression.BZIP2),
    (b"\xfd7zXZ\x00", Compression.XZ),
)
MAGIC_LENGTH = 6


def detect(head: bytes) -> Compression:
    for magic, kind in _MAGIC:
        if head.startswith(magic):
            return kind
    return Compression.NONE


class _Decompressor(Protocol):
    @property
    def eof(self) -> bool: ...
    @property
    def unused_data(self) -> bytes: ...

    def decompress(self, data: bytes, max_length: int = ..., /) -> bytes: ...


class _ReadFn(Protocol):
    def __call__(self, size: int, /) -> bytes: ...


def _inflate_module() -> ModuleType:
    """python-isal's zlib (ISA-L, about 2.5x faster inflate) when installed, else zlib:
    same interface, same output."""
    try:
        return importlib.import_module("isal.isal_zlib")
    except ImportError:
        return zlib


_INFLATE = _inflate_module()


class _Zlib:
    """zlib's decompressor with the unconsumed input kept inside, like bz2's and lzma's."""

    def __init__(self) -> None:
        self._d = _INFLATE.decompressobj(31)
        self._tail = b""

    @property
    def eof(self) -> bool:
        return bool(self._d.eof)

    @property
    def unused_data(self) -> bytes:
        return bytes(self._d.unused_data)

    def decompress(self, data: bytes, max_length: int = 0, /) -> bytes:
        out = self._d.decompress(self._tail + data if self._tail else data, max_length)
        self._tail = self._d.unconsumed_tail
        return bytes(out) if not isinstance(out, bytes) else out

    @property
    def has_tail(self) -> bool:
        return bool(self._tail)


def _new(kind: Compression) -> _Decompressor:
    if kind is Compression.GZIP:
        return _Zlib()
    if kind is Compression.BZIP2:
        import bz2

        return bz2.BZ2Decompressor()
    import lzma  # imported when needed: most layers are plain, gzip or zstd

    return lzma.LZMADecompressor(format=lzma.FORMAT_XZ)


def decompressed(first: bytes, read: _ReadFn, kind: Compression) -> Iterator[bytes]:
    """The uncompressed content of a stream whose first bytes are `first` and the rest
    comes from `read`; each piece at most CHUNK bytes. Reads the source to its end."""
    if kind is Compression.NONE:
        if first:
            yield first
        while chunk := read(CHUNK):
            yield chunk
        return
    if kind is Compression.ZSTD:
        yield from _zstd(first, read)
        return
    yield from _multistream(first, read, kind)


def _multistream(first: bytes, read: _ReadFn, kind: Compression) -> Iterator[bytes]:
    # gzip, bzip2 and xz allow concatenated streams; zeros after the last are padding
    decompressor = _new(kind)
    data = first
    while True:
        try:
            out = decompressor.decompress(data, CHUNK)
        except Exception as error:  # zlib.error, LZMAError, OSError from bz2, isal's error
            raise InvalidArgument(f"invalid {kind.value} stream: {error}") from None
        data = b""
        if out:
            yield out
        if decompressor.eof:
            rest = decompressor.unused_data
            while len(rest) < MAGIC_LENGTH:
                more = read(CHUNK)
                if not more:
                    break
                rest += more
            if not rest:
                return
            if detect(rest) is kind:
                decompressor = _new(kind)
                data = rest
                continue
            _expect_padding(rest, read, kind)
            return
        if len(out) == CHUNK or _has_pending(decompressor):
            continue  # output is waiting inside the decompressor
        data = read(CHUNK)
        if not data:
            raise InvalidArgument(f"{kind.value} stream is truncated")


def _expect_padding(rest: bytes, read: _ReadFn, kind: Compression) -> None:
    while rest:
        if rest.strip(b"\0"):
            raise InvalidArgument(f"unexpected data after the end of the {kind.value} stream")
        rest = read(CHUNK)


def _has_pending(decompressor: _Decompressor) -> bool:
    if isinstance(decompressor, _Zlib):
        return decompressor.has_tail
    needs_input = getattr(decompressor, "needs_input", True)
    return not needs_input and not decompressor.eof


class _Prefixed:
    def __init__(self, first: bytes, read: _ReadFn) -> None:
        self._first = first
        self._read = read

    def read(self, size: int = -1) -> bytes:
        if self._first:
            data, self._first = self._first, b""
            return data
        return self._read(CHUNK if size < 0 else size)


def _zstd(first: bytes, read: _ReadFn) -> Iterator[bytes]:
    import zstandard  # imported when a zstd layer comes: its import is not free

    source = cast("IO[bytes]", _Prefixed(first, read))
    with zstandard.ZstdDecompressor().stream_reader(
        source, read_size=CHUNK, read_across_frames=True, closefd=False
    ) as reader:
        while True:
            try:
                out = reader.read(CHUNK)
            except zstandard.ZstdError as error:
                raise InvalidArgument(f"invalid zstd stream: {error}") from None
            if not out:
                break
            yield out
    while read(CHUNK):  # whatever zstd did not ask for still counts as read
        pass


class Compressor:
    """Compress into `write`; `compressed_size` counts what was written."""

    def __init__(
        self, kind: Compression, write: Callable[[bytes], object], level: int | None = None
    ) -> None:
        self.kind = kind
        self._write = write
        self.compressed_size = 0
        self._zstd: zstandard.ZstdCompressionObj | None = None
        self._zlib: zlib._Compress | None = None
        if kind is Compression.GZIP:
            # wbits 31: a gzip header with mtime 0 and no name, so output is reproducible
            self._zlib = zlib.compressobj(6 if level is None else level, zlib.DEFLATED, 31)
        elif kind is Compression.ZSTD:
            import zstandard

            self._zstd = zstandard.ZstdCompressor(
                level=3 if level is None else level, write_checksum=True
            ).compressobj()
        elif kind is not Compression.NONE:
            raise InvalidArgument(f"capsa does not write {kind.value} layers")

    def _emit(self, data: bytes) -> None:
        if data:
            self.compressed_size += len(data)
            self._write(data)

    def write(self, data: bytes | memoryview) -> None:
        if self._zlib is not None:
            self._emit(self._zlib.compress(data))
        elif self._zstd is not None:
            self._emit(self._zstd.compress(data))
        else:
            self._emit(bytes(data))

    def close(self) -> None:
        if self._zlib is not None:
            self._emit(self._zlib.flush())
        elif self._zstd is not None:
            self._emit(self._zstd.flush())
