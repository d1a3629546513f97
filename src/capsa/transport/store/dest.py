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

A multi-platform index is kept whole (its bytes and digest): every image of it that was
copied is recorded, the index lists them with their platforms, and the name names the
index, giving the host's image (or the first one copied) when no platform is asked for.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from capsa.errors import InvalidArgument, NotFound
from capsa.oci import media_types as mt
from capsa.oci.canonical import load_json
from capsa.oci.image_config import ImageConfig
from capsa.oci.manifest import Index, Manifest, parse_manifest_or_index
from capsa.oci.media_types import Compression
from capsa.oci.platform import Platform, choose, host_platform
from capsa.store.errors import DigestMismatch as StoreDigestMismatch
from capsa.store.metadata import IndexMember
from capsa.transport.errors import UnsupportedByDestination
from capsa.transport.store.find import normalize_name
from capsa.transport.store.unpacker import LayerUnpacker
from capsa.transport.verify import VerifyingReader, verify_digest

if TYPE_CHECKING:
    from capsa.oci.descriptor import Descriptor
    from capsa.oci.digest import Digest
    from capsa.store.metadata import ImageRecord, IndexRecord
    from capsa.store.store import Store
    from capsa.transport.types import BlobReader

STORE_MANIFEST_TYPES = frozenset(
    {mt.OCI_MANIFEST, mt.DOCKER_MANIFEST, mt.OCI_INDEX, mt.DOCKER_MANIFEST_LIST}
)
ALL_COMPRESSIONS = frozenset(Compression)


def platform_text(config: ImageConfig) -> str:
    if not config.os or not config.architecture:
        return ""
    return str(Platform(config.os, config.architecture, config.variant).normalize())


@dataclass(frozen=True)
class _PendingImage:
    manifest_digest: str
    manifest: Manifest
    platform: str
    chains: tuple[str, ...]
    size: int


@dataclass(frozen=True)
class _PendingIndex:
    digest: str
    media_type: str
    index: Index


class StoreDestination:
    """Images copied into `store`, named `name` (normalised) unless commit() says else."""

    manifest_types = STORE_MANIFEST_TYPES
    layer_compressions = ALL_COMPRESSIONS
    sparse_indexes = True
    concurrent_blobs = True  # each blob has its own ingest; the database is locked

    def __init__(self, store: Store, name: str | None = None, description: str = "") -> None:
        self.store = store
        self.description = description or f"the image store at {store.root}"
        self._name = normalize_name(name) if name is not None else None
        self._lease = store.lease(labels={"capsa.operation": "copy"})
        self._images: dict[str, _PendingImage] = {}  # by manifest digest
        self._indexes: list[_PendingIndex] = []
        self._top: str | None = None  # the digest of the last document put
        self._unpacker: LayerUnpacker | None = None
        self.committed: list[ImageRecord] = []
        self.committed_index: IndexRecord | None = None

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
        self._finish_unpacking()  # an index's previous image
        if not mt.is_config(manifest.config.media_type):
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
        if isinstance(document, Index):
            self.store.write_blob([data], lease=self._lease, expected=digest, total=len(data))
            kind = document.media_type or media_type
            self._indexes.append(_PendingIndex(str(digest), kind, document))
            self._top = str(digest)
            return
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
        self._images[str(digest)] = _PendingImage(
            str(digest), document, platform_text(config), tuple(chains), size
        )
        self._top = str(digest)

    def commit(self, name: str | None = None) -> None:
        if self._top is None:
            raise InvalidArgument(f"{self.description}: nothing to commit (no manifest put)")
        wanted = normalize_name(name) if name is not None else self._name
        names = [wanted] if wanted else []
        if self._top in self._images:
            image = self._images[self._top]
            self.committed.append(self._put_image(image, None, names))
            return
        top = next(pending for pending in self._indexes if pending.digest == self._top)
        members = self._members()
        if not members:
            raise InvalidArgument(f"{self.description}: the image index {top.digest} is empty")
        with self.store.metadata.transaction():
            records = {
                member.image_id: self._put_image(self._images[member.manifest_digest], top, [])
                for member in members
            }
            self.committed_index = self.store.metadata.put_index(
                top.digest,
                top.media_type,
                members=members,
                blobs=[pending.digest for pending in self._indexes],
                default=_default_member(members),
                names=names,
            )
        default = _default_member(members)
        self.committed.append(self.store.metadata.get_image(default))
        self.committed.extend(r for key, r in records.items() if key != default)

    def _put_image(
        self, image: _PendingImage, index: _PendingIndex | None, names: list[str]
    ) -> ImageRecord:
        blobs = {image.manifest_digest: "manifest", str(image.manifest.config.digest): "config"}
        for layer in image.manifest.layers:
            blobs.setdefault(str(layer.digest), "layer")
        return self.store.put_image(
            str(image.manifest.config.digest),
            image.manifest_digest,
            size=image.size,
            layers=image.chains,
            blobs=blobs,
            index_digest=index.digest if index is not None else None,
            names=names,
            platform=image.platform,
        )

    def _members(self) -> list[IndexMember]:
        """The images copied, in the order the indexes list them, with the platform the
        index gives (else their config's)."""
        members: list[IndexMember] = []
        seen: set[str] = set()
        for pending in self._indexes:
            for entry in pending.index.manifests:
                image = self._images.get(str(entry.digest))
                if image is None or image.manifest_digest in seen:
                    continue
                seen.add(image.manifest_digest)
                listed = str(entry.platform.normalize()) if entry.platform else ""
                members.append(
                    IndexMember(
                        str(image.manifest.config.digest),
                        image.manifest_digest,
                        listed or image.platform,
                        len(members),
                    )
                )
        return members

    def close(self) -> None:
        self._stop_unpacking()
        self._lease.release()

    def abort(self) -> None:
        self._stop_unpacking()
        self._lease.release()


def _default_member(members: list[IndexMember]) -> str:
    """The image a name of the index gives when no platform is asked for: the host's, as
    choose() picks it, else the first one."""
    from capsa.oci.descriptor import Descriptor
    from capsa.oci.digest import Digest
    from capsa.oci.platform import parse_platform

    entries = []
    for member in members:
        platform = parse_platform(member.platform) if member.platform else None
        entries.append(
            Descriptor(mt.OCI_MANIFEST, Digest.parse(member.manifest_digest), 1, platform=platform)
        )
    try:
        chosen = choose(Index(tuple(entries)), host_platform())
    except NotFound:  # no image for this host: the first one
        return members[0].image_id
    return next(m.image_id for m in members if m.manifest_digest == str(chosen.digest))
