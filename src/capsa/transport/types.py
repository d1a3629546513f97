"""What every transport provides: an ImageSource to read from, an ImageDestination to
write to (containers/image's `types.ImageSource` / `types.ImageDestination`, smaller).

Blobs move as streams, never whole in memory. A destination verifies each blob's digest
and size while it streams in and stores nothing that does not match; the copy pipeline
(capsa.transport.copy) relies on that and never hashes a blob twice.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol, runtime_checkable

if TYPE_CHECKING:
    from capsa.oci.descriptor import Descriptor
    from capsa.oci.digest import Digest
    from capsa.oci.manifest import Manifest
    from capsa.oci.media_types import Compression

CHUNK = 1 << 20  # every blob moves in 1 MiB pieces
# Manifests, indexes and image configs are read whole; nothing legitimate is this big, and
# the cap keeps a hostile source from filling memory (containerd caps manifests at 4 MiB).
MAX_DOCUMENT_SIZE = 16 << 20


class BlobReader(Protocol):
    """A readable binary stream: an open file, a tar member, a decompressor."""

    def read(self, size: int = -1, /) -> bytes: ...

    def close(self) -> None: ...


@dataclass(frozen=True)
class BlobProgress:
    """One step of one blob's copy, for progress bars: `done` of `total` bytes.

    `skipped` is set (with done == total) when the destination already had the blob.
    """

    descriptor: Descriptor
    done: int
    total: int
    skipped: bool = False


ProgressCallback = Callable[[BlobProgress], None]


class ImageSource(Protocol):
    """One image (a manifest) or one image index, and the blobs it references."""

    @property
    def description(self) -> str:
        """The transport reference, for messages: `oci:/srv/layout:v1`."""
        ...

    def top_manifest(self) -> tuple[bytes, str]:
        """The bytes of the manifest or index the reference names, and its media type;
        verified by the source against whatever descriptor it found them by."""
        ...

    def get_manifest(self, digest: Digest) -> bytes:
        """The bytes of a manifest or index the top document references (not verified:
        the caller checks them against the descriptor it followed)."""
        ...

    def get_blob(self, descriptor: Descriptor) -> BlobReader:
        """A stream of a blob's stored bytes (not verified: the destination verifies).
        Raises capsa.errors.NotFound if the source does not hold it."""
        ...

    def has_blob(self, descriptor: Descriptor) -> bool:
        """Whether the source holds this blob, manifest or index (an archive of a
        multi-platform image may hold only some platforms' blobs)."""
        ...

    def close(self) -> None: ...


class ImageDestination(Protocol):
    """Somewhere to write blobs, manifests and a name for them.

    Protocol of use: put_blob() for every config and layer, put_manifest() for every
    manifest and then the index if any (the last one put is the top document), commit()
    to name the top document, then close() to finish. Several images may be copied and
    committed before close() (every format here holds several).

    abort() instead of close() after a failure: an archive is then not written at all; a
    layout directory this destination created is removed unless something was committed
    (each commit to a directory is visible at once). capsa.transport.open.writing() does
    the close-or-abort as a context manager.
    """

    @property
    def description(self) -> str: ...

    @property
    def manifest_types(self) -> frozenset[str]:
        """The manifest and index media types this format stores; others are converted."""
        ...

    @property
    def layer_compressions(self) -> frozenset[Compression]:
        """The layer compressions this format stores; other layers are decompressed."""
        ...

    @property
    def sparse_indexes(self) -> bool:
        """Whether an index may be stored as it is when only some of its platforms are
        copied (the image store); otherwise it is rewritten to list only those."""
        ...

    def has_blob(self, digest: Digest) -> bool: ...

    def put_blob(self, descriptor: Descriptor, stream: BlobReader) -> None:
        """Store a blob, verifying its digest and size while it streams. Raises
        DigestMismatch or SizeMismatch and stores nothing when they do not match."""
        ...

    def put_manifest(self, data: bytes, media_type: str, digest: Digest) -> None:
        """Store a manifest or index (verified against `digest`)."""
        ...

    def commit(self, name: str | None = None) -> None:
        """Name the last manifest or index put: a ref (`v1`) in an OCI layout, a `name:tag`
        in a docker-archive. None means the name the destination was opened with."""
        ...

    def close(self) -> None: ...

    def abort(self) -> None: ...


@runtime_checkable
class ExpectsManifest(Protocol):
    """A destination that wants to know an image's manifest before its layers arrive
    (the store unpacks each layer as soon as it and the layers below it are in, while the
    others still download). copy_image() calls it after the config is put; put_manifest()
    still follows, with the same manifest."""

    def expect_manifest(self, manifest: Manifest, config: bytes) -> None: ...
