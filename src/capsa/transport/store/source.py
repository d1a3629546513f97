"""Reading an image out of the local store: its manifest, config and layer blobs exactly
as they were stored (so digests survive a round trip). Every read is verified by the
content store against the blob's digest."""

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
    from capsa.store.metadata import ImageRecord
    from capsa.store.store import Store
    from capsa.transport.types import BlobReader


class StoreSource:
    """The image `image` (a name, an ID or an ID prefix) in `store`."""

    concurrent_blobs = True  # blobs are files opened per call

    def __init__(self, store: Store, image: str) -> None:
        self.store = store
        self.record: ImageRecord
        self.record, self.found_by = find_image(store.metadata, image)
        self.description = f"image {image}"

    def top_manifest(self) -> tuple[bytes, str]:
        data = self.store.content.read_verified(
            self.record.manifest_digest, max_size=MAX_DOCUMENT_SIZE
        )
        document = parse_manifest_or_index(data)
        return data, document.media_type or mt.OCI_MANIFEST

    def get_manifest(self, digest: Digest) -> bytes:
        return self.store.content.read_verified(digest, max_size=MAX_DOCUMENT_SIZE)

    def get_blob(self, descriptor: Descriptor) -> BlobReader:
        if str(descriptor.digest) not in self.store.metadata.image_blobs(self.record.id):
            raise NotFound(f"{self.description} does not reference blob {descriptor.digest}")
        return self.store.content.open(descriptor.digest)

    def close(self) -> None:
        pass
