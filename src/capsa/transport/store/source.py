"""Reading an image out of the local store: its manifest (or the multi-platform index a
name names), config and layer blobs exactly as they were stored (so digests survive a
round trip). Every read is verified by the content store against the blob's digest."""

from __future__ import annotations

from typing import TYPE_CHECKING

from capsa.errors import NotFound
from capsa.oci import media_types as mt
from capsa.oci.manifest import parse_manifest_or_index
from capsa.transport.store.find import find_image
from capsa.transport.types import MAX_DOCUMENT_SIZE

if TYPE_CHECKING:
    from capsa.oci.descriptor import Descriptor
    from capsa.oci.digest import Digest
    from capsa.oci.platform import Platform
    from capsa.store.metadata import ImageRecord
    from capsa.store.store import Store
    from capsa.transport.types import BlobReader


class StoreSource:
    """The image `image` (a name, an ID or an ID prefix) in `store`.

    When the name names a multi-platform index and `whole_index` is set, the source is
    the index, holding the images the store has of it (copy it with
    available_platforms); with a `platform`, or by ID, it is one image.
    """

    concurrent_blobs = True  # blobs are files opened per call

    def __init__(
        self,
        store: Store,
        image: str,
        *,
        platform: Platform | None = None,
        whole_index: bool = True,
    ) -> None:
        self.store = store
        self.record: ImageRecord
        self.record, self.found_by = find_image(store.metadata, image, platform)
        self.description = f"image {image}"
        metadata = store.metadata
        self.index: str | None = None
        if platform is None and whole_index and self.found_by is not None:
            self.index = metadata.get_name(self.found_by).index_digest
        if self.index is None:
            self._blobs = set(metadata.image_blobs(self.record.id))
        else:
            self._blobs = set(metadata.index_blobs(self.index))
            for member in metadata.index_members(self.index):
                self._blobs |= set(metadata.image_blobs(member.image_id))

    def top_manifest(self) -> tuple[bytes, str]:
        digest = self.index or self.record.manifest_digest
        data = self.store.content.read_verified(digest, max_size=MAX_DOCUMENT_SIZE)
        document = parse_manifest_or_index(data)
        default = mt.OCI_INDEX if self.index else mt.OCI_MANIFEST
        return data, document.media_type or default

    def get_manifest(self, digest: Digest) -> bytes:
        if str(digest) not in self._blobs:
            raise NotFound(f"{self.description} does not reference manifest {digest}")
        return self.store.content.read_verified(digest, max_size=MAX_DOCUMENT_SIZE)

    def get_blob(self, descriptor: Descriptor) -> BlobReader:
        if str(descriptor.digest) not in self._blobs:
            raise NotFound(f"{self.description} does not reference blob {descriptor.digest}")
        return self.store.content.open(descriptor.digest)

    def has_blob(self, descriptor: Descriptor) -> bool:
        return str(descriptor.digest) in self._blobs and self.store.content.exists(
            descriptor.digest
        )

    def close(self) -> None:
        pass
