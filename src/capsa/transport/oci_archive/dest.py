"""Writing images into an OCI archive: a tar of an OCI image layout.

The tar is written as blobs arrive, into a temporary file beside the target; close()
adds `oci-layout` and index.json and renames it into place, so the archive appears whole
or not at all. An existing archive at the path is replaced, as skopeo does.
"""

from __future__ import annotations

from io import BytesIO
from typing import TYPE_CHECKING

from capsa.errors import InvalidArgument
from capsa.oci.descriptor import Descriptor
from capsa.transport._files import AtomicFile
from capsa.transport._tar import TarWriter
from capsa.transport.oci_layout import layout
from capsa.transport.oci_layout.dest import ALL_COMPRESSIONS, OCI_MANIFEST_TYPES
from capsa.transport.reference import check_oci_ref
from capsa.transport.verify import copy_verified, verify_digest

if TYPE_CHECKING:
    from capsa.oci.digest import Digest
    from capsa.transport.types import BlobReader


class ArchiveDestination:
    manifest_types = OCI_MANIFEST_TYPES
    layer_compressions = ALL_COMPRESSIONS
    sparse_indexes = False

    def __init__(self, path: str, ref: str | None, description: str) -> None:
        self.description = description
        self._ref = check_oci_ref(ref) if ref is not None else None
        self._out = AtomicFile(path)
        self._tar = TarWriter(self._out.file)
        self._index = layout.empty_index()
        self._top: Descriptor | None = None
        self._finished = False

    def has_blob(self, digest: Digest) -> bool:
        return layout.blob_path(digest) in self._tar

    def put_blob(self, descriptor: Descriptor, stream: BlobReader) -> None:
        self._check_open()
        name = layout.blob_path(descriptor.digest)
        if name in self._tar:
            return
        self._tar.add_directory(layout.BLOBS_DIR + "/")
        self._tar.add_directory(f"{layout.BLOBS_DIR}/{descriptor.digest.algorithm}/")
        self._tar.add_stream(
            name, descriptor.size, lambda write: copy_verified(stream, write, descriptor)
        )

    def put_manifest(self, data: bytes, media_type: str, digest: Digest) -> None:
        verify_digest(data, digest, f"the {media_type} document")
        descriptor = Descriptor(media_type, digest, len(data))
        self.put_blob(descriptor, BytesIO(data))
        self._top = descriptor

    def commit(self, name: str | None = None) -> None:
        self._check_open()
        if self._top is None:
            raise InvalidArgument(f"{self.description}: nothing to commit (no manifest put)")
        ref = check_oci_ref(name) if name is not None else self._ref
        self._index = layout.with_entry(self._index, self._top, ref)

    def close(self) -> None:
        """Write the archive if an image was committed; otherwise write nothing."""
        if self._finished:
            return
        if not self._index.manifests:
            self.abort()
            return
        try:
            self._tar.add_bytes(layout.LAYOUT_FILE, layout.layout_file_bytes())
            self._tar.add_bytes(layout.INDEX_FILE, layout.index_bytes(self._index))
            self._tar.finish()
            self._out.commit()
        except BaseException:
            self.abort()
            raise
        self._finished = True

    def abort(self) -> None:
        self._finished = True
        self._out.discard()

    def _check_open(self) -> None:
        if self._finished:
            raise InvalidArgument(f"{self.description}: the archive is already closed")
