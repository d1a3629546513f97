"""Writing images into the local store.

Every blob is written (verified) into the content store under one lease, taken when the
destination opens and released on close or abort, so garbage collection keeps what this
copy has written until the image record names it. When a manifest is put, its layers are
unpacked in order, each only if no layer with its chain ID exists yet; when copy_image()
announces the manifest first (expect_manifest), they are unpacked while the others still
download. commit() records
the image (ID = config digest) and its name in one transaction: a listed image is always
complete, and a copy that fails leaves no image and no name (its blobs and layers go at
the next garbage collection).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from capsa.errors import InvalidArgument
from capsa.oci import media_types as mt
from capsa.oci.canonical import load_json
from capsa.oci.image_config import ImageConfig
from capsa.oci.manifest import Manifest, parse_manifest_or_index
from capsa.oci.media_types import Compression
from capsa.store.errors import DigestMismatch as StoreDigestMismatch
from capsa.transport.errors import UnsupportedByDestination
from capsa.transport.store.find import normalize_name
from capsa.transport.store.unpacker import LayerUnpacker
from capsa.transport.verify import VerifyingReader, verify_digest

if TYPE_CHECKING:
    from capsa.oci.descriptor import Descriptor
    from capsa.oci.digest import Digest
    from capsa.store.metadata import ImageRecord
    from capsa.store.store import Store
    from capsa.transport.types import BlobReader

STORE_MANIFEST_TYPES = frozenset({mt.OCI_MANIFEST, mt.DOCKER_MANIFEST})
ALL_COMPRESSIONS = frozenset(Compression)


class StoreDestination:
    """Images copied into `store`, named `name` (normalised) unless commit() says else."""

    manifest_types = STORE_MANIFEST_TYPES
    layer_compressions = ALL_COMPRESSIONS
    concurrent_blobs = True  # each blob has its own ingest; the database is locked

    def __init__(self, store: Store, name: str | None = None, description: str = "") -> None:
        self.store = store
        self.description = description or f"the image store at {store.root}"
        self._name = normalize_name(name) if name is not None else None
        self._lease = store.lease(labels={"capsa.operation": "copy"})
        self._pending: tuple[str, Manifest, ImageConfig, list[str], int] | None = None
        self._unpacker: LayerUnpacker | None = None
        self.committed: list[ImageRecord] = []

    def has_blob(self, digest: Digest) -> bool:
        self._lease.add_blob(digest)  # before looking: GC keeps it from now on
        found = self.store.content.exists(digest)
        if found and self._unpacker is not None:
            self._unpacker.blob_ready(digest)
        return found

    def put_blob(self, descriptor: Descriptor, stream: BlobReader) -> None:
        reader = VerifyingReader(stream, descriptor)
        try:
            self.store.write_blob(
                reader, lease=self._lease, expected=descriptor.digest, total=descriptor.size
            )
        except StoreDigestMismatch:
            reader.verify_end()  # says which blob, in the words of the transport
            raise
        reader.verify_end()
        if self._unpacker is not None:
            self._unpacker.blob_ready(descriptor.digest)

    def expect_manifest(self, manifest: Manifest, config: bytes) -> None:
        """Start unpacking layers as they arrive (see capsa.transport.store.unpacker)."""
        if self._unpacker is not None or not mt.is_config(manifest.config.media_type):
            return
        parsed = ImageConfig.from_json(load_json(config, "image config"))
        if len(parsed.diff_ids) != len(manifest.layers):
            return  # put_manifest() reports it
        self._unpacker = LayerUnpacker(self.store, self._lease, manifest.layers, parsed.diff_ids)

    def _finish_unpacking(self) -> None:
        unpacker, self._unpacker = self._unpacker, None
        if unpacker is None:
            return
        unpacker.finish()
        if unpacker.error is not None:
            raise unpacker.error

    def _stop_unpacking(self) -> None:
        unpacker, self._unpacker = self._unpacker, None
        if unpacker is not None:
            unpacker.stop()

    def put_manifest(self, data: bytes, media_type: str, digest: Digest) -> None:
        verify_digest(data, digest, f"the {media_type} document")
        self._finish_unpacking()
        document = parse_manifest_or_index(data, media_type)
        if not isinstance(document, Manifest):
            raise UnsupportedByDestination(
                f"{self.description} keeps one image per name, not an image index",
                hint="copy one platform (the default, or --platform)",
            )
        if not mt.is_config(document.config.media_type):
            raise UnsupportedByDestination(
                f"{self.description} holds container images, not artifacts "
                f"({document.config.media_type})"
            )
        self.store.write_blob([data], lease=self._lease, expected=digest, total=len(data))
        raw = self.store.content.read_verified(document.config.digest, max_size=16 << 20)
        config = ImageConfig.from_json(load_json(raw, "image config"))
        if len(config.diff_ids) != len(document.layers):
            raise InvalidArgument(
                f"image {document.config.digest}: the config lists {len(config.diff_ids)} "
                f"layers, the manifest {len(document.layers)}"
            )
        chains: list[str] = []
        size = 0
        parent: str | None = None
        for layer, diff_id in zip(document.layers, config.diff_ids, strict=True):
            record = self.store.unpack(
                layer.digest,
                lease=self._lease,
                parent=parent,
                diff_id=diff_id,
                media_type=layer.media_type,
            )
            chains.append(record.chain_id)
            size += record.size
            parent = record.chain_id
        self._pending = (str(digest), document, config, chains, size)

    def commit(self, name: str | None = None) -> None:
        if self._pending is None:
            raise InvalidArgument(f"{self.description}: nothing to commit (no manifest put)")
        manifest_digest, manifest, _, chains, size = self._pending
        wanted = normalize_name(name) if name is not None else self._name
        blobs = {manifest_digest: "manifest", str(manifest.config.digest): "config"}
        for layer in manifest.layers:
            blobs.setdefault(str(layer.digest), "layer")
        record = self.store.put_image(
            str(manifest.config.digest),
            manifest_digest,
            size=size,
            layers=chains,
            blobs=blobs,
            names=[wanted] if wanted else [],
        )
        self.committed.append(record)

    def close(self) -> None:
        self._stop_unpacking()
        self._lease.release()

    def abort(self) -> None:
        self._stop_unpacking()
        self._lease.release()
