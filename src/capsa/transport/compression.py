"""Recognising and undoing layer compression (gzip, zstd) on streams.

Layers are never recompressed: a destination that cannot store a compression (Docker's
archive format and zstd) gets the plain tar, whose digest is the layer's DiffID.
"""

from __future__ import annotations

import gzip
import zlib
from typing import TYPE_CHECKING, Any, cast

from capsa.errors import CapsaError, InvalidArgument
from capsa.oci import media_types
from capsa.oci.media_types import Compression

if TYPE_CHECKING:
    from capsa.transport.types import BlobReader

_GZIP_MAGIC = b"\x1f\x8b"
_ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"
MAGIC_LENGTH = 4


def detect(head: bytes) -> Compression:
    """The compression of a stream from its first bytes (at least MAGIC_LENGTH)."""
    if head.startswith(_GZIP_MAGIC):
        return Compression.GZIP
    if head.startswith(_ZSTD_MAGIC):
        return Compression.ZSTD
    return Compression.NONE


class CorruptStream(Exception):
    """The compressed bytes cannot be decompressed (damaged or truncated)."""


def decompressed(stream: BlobReader, compression: Compression) -> BlobReader:
    """A stream of `stream`'s bytes with `compression` undone (read in pieces). Reading
    it raises CorruptStream when the codec fails; other errors of `stream` pass through."""
    if compression is Compression.NONE:
        return stream
    if compression is Compression.GZIP:
        # GzipFile reads multi-member streams (pigz -i, concatenated gzip) whole.
        gzip_reader = gzip.GzipFile(fileobj=cast("Any", stream), mode="rb")
        return _Guarded(gzip_reader, (OSError, EOFError, zlib.error))
    if compression is Compression.ZSTD:
        import zstandard

        zstd_reader = zstandard.ZstdDecompressor().stream_reader(
            cast("Any", stream), read_across_frames=True, closefd=True
        )
        return _Guarded(zstd_reader, (zstandard.ZstdError,))
    raise InvalidArgument(f"unknown layer compression {compression!r}")


class _Guarded:
    def __init__(self, stream: BlobReader, errors: tuple[type[BaseException], ...]) -> None:
        self._stream = stream
        self._errors = errors

    def read(self, size: int = -1, /) -> bytes:
        try:
            return self._stream.read(size)
        except CapsaError:
            raise  # the source's own verdict (truncated, digest mismatch) comes first
        except self._errors as exc:
            raise CorruptStream(str(exc) or type(exc).__name__) from exc

    def close(self) -> None:
        self._stream.close()


_UNCOMPRESSED_NONDISTRIBUTABLE = {
    media_types.OCI_LAYER_NONDISTRIBUTABLE_GZIP: media_types.OCI_LAYER_NONDISTRIBUTABLE,
    media_types.OCI_LAYER_NONDISTRIBUTABLE_ZSTD: media_types.OCI_LAYER_NONDISTRIBUTABLE,
    media_types.DOCKER_FOREIGN_LAYER_GZIP: media_types.DOCKER_FOREIGN_LAYER,
}


def uncompressed_type(media_type: str) -> str:
    """The media type of a layer once its compression is undone (same family)."""
    if media_type in _UNCOMPRESSED_NONDISTRIBUTABLE:
        return _UNCOMPRESSED_NONDISTRIBUTABLE[media_type]
    if media_types.is_nondistributable(media_type):
        return media_type
    return media_types.layer_media_type(Compression.NONE, docker=media_types.is_docker(media_type))
