"""Checking bytes against descriptors while they stream: every blob a destination stores
and every document the pipeline reads goes through here."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from capsa.errors import InvalidArgument
from capsa.oci.digest import Digest
from capsa.transport.errors import DigestMismatch, SizeMismatch
from capsa.transport.types import CHUNK, MAX_DOCUMENT_SIZE

if TYPE_CHECKING:
    from capsa.oci.descriptor import Descriptor
    from capsa.transport.types import BlobReader


def blob_name(descriptor: Descriptor) -> str:
    """How messages name a blob: `layer sha256:abc… (application/…tar+gzip)`."""
    return f"blob {descriptor.digest} ({descriptor.media_type})"


def copy_verified(
    stream: BlobReader,
    write: Callable[[bytes], object],
    descriptor: Descriptor,
) -> None:
    """Copy exactly `descriptor.size` bytes of `stream` to `write`, hashing them.

    Raises SizeMismatch if the stream ends early or has more, DigestMismatch if the hash
    differs. Bytes already passed to `write` are the caller's to discard on error.
    """
    expected = descriptor.size
    hasher = descriptor.digest.hasher()
    done = 0
    while True:
        # Ask for one byte past the end so that a longer stream is noticed.
        chunk = stream.read(min(CHUNK, expected - done + 1))
        if not chunk:
            break
        done += len(chunk)
        if done > expected:
            raise SizeMismatch(blob_name(descriptor), expected, done)
        hasher.update(chunk)
        write(chunk)
    if done != expected:
        raise SizeMismatch(blob_name(descriptor), expected, done)
    actual = Digest(descriptor.digest.algorithm, hasher.hexdigest())
    if actual != descriptor.digest:
        raise DigestMismatch(blob_name(descriptor), descriptor.digest, actual)


def verify_bytes(data: bytes, descriptor: Descriptor) -> None:
    """Check a whole document against its descriptor."""
    if len(data) != descriptor.size:
        raise SizeMismatch(blob_name(descriptor), descriptor.size, len(data))
    actual = Digest.of(data, descriptor.digest.algorithm)
    if actual != descriptor.digest:
        raise DigestMismatch(blob_name(descriptor), descriptor.digest, actual)


def verify_digest(data: bytes, digest: Digest, what: str) -> None:
    actual = Digest.of(data, digest.algorithm)
    if actual != digest:
        raise DigestMismatch(what, digest, actual)


def read_document(stream: BlobReader, descriptor: Descriptor) -> bytes:
    """Read a small blob (manifest, index, config) whole and verify it."""
    if descriptor.size > MAX_DOCUMENT_SIZE:
        raise InvalidArgument(
            f"{blob_name(descriptor)} is {descriptor.size} bytes, more than the "
            f"{MAX_DOCUMENT_SIZE} a manifest, index or config may have"
        )
    parts: list[bytes] = []
    copy_verified(stream, parts.append, descriptor)
    return b"".join(parts)


def read_bounded(stream: BlobReader, what: str, limit: int = MAX_DOCUMENT_SIZE) -> bytes:
    """Read a small file whose digest is not known beforehand (index.json,
    manifest.json), refusing one larger than `limit`."""
    data = stream.read(limit + 1)
    if len(data) > limit:
        raise InvalidArgument(f"{what} is larger than {limit} bytes; refusing to read it")
    return data


class VerifyingReader:
    """A stream that hashes and counts what is read through it; verify_end() drains the
    rest and checks the whole against the descriptor. For readers that consume a blob
    through another layer (a decompressor) rather than through copy_verified()."""

    def __init__(self, stream: BlobReader, descriptor: Descriptor) -> None:
        self._stream = stream
        self._descriptor = descriptor
        self._hasher = descriptor.digest.hasher()
        self._done = 0

    def read(self, size: int = -1, /) -> bytes:
        chunk = self._stream.read(size)
        self._done += len(chunk)
        if self._done > self._descriptor.size:
            raise SizeMismatch(blob_name(self._descriptor), self._descriptor.size, self._done)
        self._hasher.update(chunk)
        return chunk

    def verify_end(self) -> None:
        while self.read(CHUNK):
            pass
        descriptor = self._descriptor
        if self._done != descriptor.size:
            raise SizeMismatch(blob_name(descriptor), descriptor.size, self._done)
        actual = Digest(descriptor.digest.algorithm, self._hasher.hexdigest())
        if actual != descriptor.digest:
            raise DigestMismatch(blob_name(descriptor), descriptor.digest, actual)

    def close(self) -> None:
        self._stream.close()
