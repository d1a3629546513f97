"""The one copy pipeline: any ImageSource to any ImageDestination (containers/image's
copy.Image, smaller).

Order: for each image, its config, then its layers, then its manifest; an index last;
then the destination's commit(). Every blob streams in 1 MiB pieces and is verified by the
destination as it goes; manifests and indexes are read whole (they are small, and
capped) and verified here against the descriptor that led to them.

Indexes (multi-platform images) are copied one of three ways:

- by default, only the manifest for the wanted platform (`platform`, else the host's):
  the destination gets a single-platform image, whose digest is that manifest's;
- `all_platforms=True`: the index and every manifest in it, whole;
- `keep_index=True`: the index as it is (its digest kept) but only the wanted platform's
  manifest and blobs, as containerd keeps a pull; the other entries are left dangling;
- `available_platforms=True`: every image of the index whose manifest and blobs the
  source holds (an archive saved from a partial pull has only some); the index is kept
  as it is where the destination allows that (the store), else rewritten to list only
  the images copied.

Layers move `jobs` at a time (threads) when both the source and the destination say
their blob methods may run concurrently (a `concurrent_blobs = True` attribute: the
registry, the store and OCI layout directories); otherwise, and for layers that must be
decompressed, one after another. When one layer fails the others stop at their next read.

Formats: a destination states the manifest media types and layer compressions it can
store. Docker schema 2 and OCI documents are converted only when the destination cannot
store the source's type (an OCI layout stores OCI types only; a docker-archive Docker's
only). Converting re-serialises the manifest (and any index above it), so their digests
change; configs and layers keep their bytes and digests. A layer is never recompressed;
one whose compression the destination cannot store (zstd into a docker-archive) is
decompressed, and then its digest is its DiffID, which is checked.
"""

from __future__ import annotations

import tempfile
import threading
from concurrent.futures import FIRST_EXCEPTION, ThreadPoolExecutor, wait
from dataclasses import replace
from io import BytesIO
from typing import TYPE_CHECKING, Any

from capsa.errors import Conflict, InvalidArgument, NotFound
from capsa.oci import media_types as mt
from capsa.oci.canonical import canonical_bytes, load_json
from capsa.oci.descriptor import Descriptor
from capsa.oci.digest import Digest
from capsa.oci.manifest import Index, Manifest, parse_manifest_or_index
from capsa.oci.platform import Platform, choose, host_platform, matches
from capsa.transport import compression, convert
from capsa.transport.errors import DigestMismatch, UnsupportedByDestination
from capsa.transport.types import CHUNK, BlobProgress, ExpectsManifest
from capsa.transport.verify import VerifyingReader, blob_name, read_document, verify_bytes

if TYPE_CHECKING:
    from capsa.transport.types import (
        BlobReader,
        ImageDestination,
        ImageSource,
        ProgressCallback,
    )

_MAX_DEPTH = 8  # indexes of indexes: deeper than this is a loop or an attack


def copy_image(
    src: ImageSource,
    dst: ImageDestination,
    *,
    platform: Platform | None = None,
    all_platforms: bool = False,
    keep_index: bool = False,
    available_platforms: bool = False,
    progress: ProgressCallback | None = None,
    name: str | None = None,
    jobs: int = 1,
) -> Descriptor:
    """Copy the image (or index) `src` names into `dst` and commit it under `name` (None:
    the name `dst` was opened with). Returns the descriptor of the top document written,
    whose digest is the copied image's digest in the destination.

    Raises DigestMismatch or SizeMismatch when the source's bytes are not what its
    descriptors say, UnsupportedByDestination when the destination's format cannot hold
    the image, NotFound when no manifest fits the platform. The caller owns `src` and
    `dst`; on an error, abort() the destination.
    """
    if (all_platforms or available_platforms) and (platform is not None or keep_index):
        raise InvalidArgument(
            "all platforms were asked for together with one platform",
            hint="give either all_platforms, available_platforms or platform/keep_index",
        )
    if all_platforms and available_platforms:
        raise InvalidArgument("give either all_platforms or available_platforms")
    data, media_type = src.top_manifest()
    if not (_concurrent(src) and _concurrent(dst)):
        jobs = 1
    copier = _Copier(src, dst, platform, all_platforms, keep_index, progress, max(jobs, 1))
    copier.available_platforms = available_platforms
    top = copier.copy_document(data, media_type, 0)
    dst.commit(name)
    return top


class _Copier:
    def __init__(
        self,
        src: ImageSource,
        dst: ImageDestination,
        platform: Platform | None,
        all_platforms: bool,
        keep_index: bool,
        progress: ProgressCallback | None,
        jobs: int = 1,
    ) -> None:
        self.jobs = jobs
        self._cancelled = threading.Event()
        self.src = src
        self.dst = dst
        self.wanted = platform.normalize() if platform is not None else host_platform()
        self.explicit_platform = platform is not None
        self.all_platforms = all_platforms
        self.keep_index = keep_index
        self.available_platforms = False
        self.progress = progress
        self.decompressed: dict[Digest, Descriptor] = {}  # DiffID -> what was stored

    # documents

    def copy_document(self, data: bytes, media_type: str, depth: int) -> Descriptor:
        if depth > _MAX_DEPTH:
            raise InvalidArgument(
                f"{self.src.description}: image indexes nested more than {_MAX_DEPTH} deep"
            )
        document = parse_manifest_or_index(data, media_type)
        if isinstance(document, Manifest):
            kind = _kind(document.media_type, media_type, mt.OCI_MANIFEST)
            return self._copy_manifest(document, data, kind, depth)
        kind = _kind(document.media_type, media_type, mt.OCI_INDEX)
        if self.available_platforms:
            return self._copy_available_index(document, data, kind, depth)
        if not self.all_platforms and not self.keep_index:
            chosen = choose(document, self.wanted)
            return self.copy_document(self._fetch(chosen), chosen.media_type, depth + 1)
        target_kind = self._target_type(kind)  # before any blob: fail early
        if self.all_platforms:
            return self._copy_whole_index(document, data, kind, target_kind, depth)
        return self._copy_sparse_index(document, data, kind, target_kind, depth)

    def _copy_whole_index(
        self, index: Index, data: bytes, kind: str, target_kind: str, depth: int
    ) -> Descriptor:
        entries: list[Descriptor] = []
        for entry in index.manifests:
            if mt.is_manifest(entry.media_type) or mt.is_index(entry.media_type):
                written = self.copy_document(self._fetch(entry), entry.media_type, depth + 1)
                entries.append(_retarget(entry, written))
            else:  # an artifact blob listed in the index: carried as it is
                self._copy_blob(entry, entry)
                entries.append(entry)
        return self._put_index(index, data, kind, target_kind, tuple(entries))

    def _copy_available_index(self, index: Index, data: bytes, kind: str, depth: int) -> Descriptor:
        entries = [entry for entry in index.manifests if self._available(entry, depth + 1)]
        if not entries:
            raise NotFound(
                f"{self.src.description}: no platform of the image index has all its blobs",
                hint="the archive holds an index without the images it lists",
            )
        target_kind = self._target_type(kind)
        written = [
            _retarget(entry, self.copy_document(self._fetch(entry), entry.media_type, depth + 1))
            for entry in entries
        ]
        unchanged = written == entries and target_kind == kind
        if unchanged and (self.dst.sparse_indexes or entries == list(index.manifests)):
            return self._put_index(index, data, kind, target_kind, index.manifests)
        return self._put_index(index, data, kind, target_kind, tuple(written))

    def _available(self, entry: Descriptor, depth: int) -> bool:
        """Whether the source holds this index entry whole: an image (not an artifact or
        an attestation) with its config and every layer, or an index holding one."""
        if depth > _MAX_DEPTH or not self.src.has_blob(entry):
            return False
        if entry.platform is not None and entry.platform.os == "unknown":
            return False  # BuildKit's attestations: nothing to run
        if not (mt.is_manifest(entry.media_type) or mt.is_index(entry.media_type)):
            return False
        document = parse_manifest_or_index(self._fetch(entry), entry.media_type)
        if isinstance(document, Index):
            return any(self._available(child, depth + 1) for child in document.manifests)
        if not mt.is_config(document.config.media_type):
            return False
        return all(self.src.has_blob(blob) for blob in (document.config, *document.layers))

    def _copy_sparse_index(
        self, index: Index, data: bytes, kind: str, target_kind: str, depth: int
    ) -> Descriptor:
        chosen = choose(index, self.wanted)
        written = self.copy_document(self._fetch(chosen), chosen.media_type, depth + 1)
        entry = _retarget(chosen, written)
        if entry == chosen and target_kind == kind:
            return self._put_index(index, data, kind, target_kind, index.manifests)
        # Re-serialised anyway: list only what the destination holds.
        return self._put_index(index, data, kind, target_kind, (entry,))

    def _put_index(
        self,
        index: Index,
        data: bytes,
        kind: str,
        target_kind: str,
        entries: tuple[Descriptor, ...],
    ) -> Descriptor:
        if target_kind == kind and entries == index.manifests:
            out = data
        elif target_kind == kind:
            out = canonical_bytes(replace(index, manifests=entries))
        else:
            docker = mt.is_docker(target_kind)
            out = canonical_bytes(convert.convert_index(index, entries, docker=docker))
        return self._put_manifest(out, target_kind)

    def _copy_manifest(self, manifest: Manifest, data: bytes, kind: str, depth: int) -> Descriptor:
        target_kind = self._target_type(kind)
        target = manifest
        if target_kind != kind:
            target = convert.convert_manifest(manifest, docker=mt.is_docker(target_kind))
        config = self._read_config(manifest.config)
        if depth == 0 and self.explicit_platform and config is not None:
            self._check_platform(config)  # before anything is written
        if config is None:
            self._copy_blob(manifest.config, target.config)
        else:
            self._put_config(target.config, config)
        layers: list[Descriptor] = []
        diff_ids: list[Digest] | None = None
        pairs = list(zip(manifest.layers, target.layers, strict=True))
        decompressing = any(self._must_decompress(s) for s, _ in pairs)
        if config is not None and not decompressing and isinstance(self.dst, ExpectsManifest):
            self.dst.expect_manifest(target, config)
        if self.jobs > 1 and len(pairs) > 1 and not decompressing:
            self._copy_blobs_parallel(pairs)
            pairs = []
            layers = list(target.layers)
        for position, (source, wanted) in enumerate(pairs):
            if self._must_decompress(source):
                if diff_ids is None:
                    diff_ids = self._diff_ids(config, len(manifest.layers))
                layers.append(self._copy_decompressed(source, wanted, diff_ids[position]))
            else:
                self._copy_blob(source, wanted)
                layers.append(wanted)
        target = replace(target, layers=tuple(layers))
        out = data if target == manifest else canonical_bytes(target)
        return self._put_manifest(out, target_kind)

    def _put_manifest(self, data: bytes, media_type: str) -> Descriptor:
        digest = Digest.of(data)
        self.dst.put_manifest(data, media_type, digest)
        return Descriptor(media_type, digest, len(data))

    def _target_type(self, kind: str) -> str:
        """The media type `kind` is written as: itself, or its other family's equivalent."""
        stored = self.dst.manifest_types
        if kind in stored:
            return kind
        docker = all(mt.is_docker(t) for t in stored)
        converted = convert.document_type(kind, docker=docker)
        if converted not in stored:
            what = "an image index (several platforms)" if mt.is_index(kind) else kind
            raise UnsupportedByDestination(
                f"{self.dst.description} cannot hold {what}",
                hint="copy one platform (the default, or --platform) instead of the whole index",
            )
        return converted

    def _fetch(self, entry: Descriptor) -> bytes:
        data = self.src.get_manifest(entry.digest)
        verify_bytes(data, entry)
        return data

    def _check_platform(self, config: bytes) -> None:
        document = load_json(config, "image config")
        system, architecture = document.get("os"), document.get("architecture")
        if not isinstance(system, str) or not isinstance(architecture, str):
            return
        variant = document.get("variant")
        image = Platform(system, architecture, variant if isinstance(variant, str) else "")
        if not matches(self.wanted, image):
            raise NotFound(
                f"{self.src.description} is an image for {image.normalize()}, "
                f"not for {self.wanted}",
                hint="leave out the platform to copy it as it is",
            )

    # blobs

    def _read_config(self, source: Descriptor) -> bytes | None:
        """The bytes of an image config (small: read whole and verified here; needed for
        DiffIDs and the platform); None for the config of an artifact."""
        if not mt.is_config(source.media_type):
            return None
        stream = self.src.get_blob(source)
        try:
            return read_document(stream, source)
        finally:
            stream.close()

    def _put_config(self, target: Descriptor, data: bytes) -> None:
        if self.dst.has_blob(target.digest):
            self._report(target, target.size, skipped=True)
        else:
            self.dst.put_blob(target, self._reader(BytesIO(data), target))

    def _copy_blob(self, source: Descriptor, target: Descriptor) -> None:
        if self.dst.has_blob(target.digest):
            self._report(target, target.size, skipped=True)
            return
        stream = self.src.get_blob(source)
        try:
            self.dst.put_blob(target, self._reader(stream, target))
        finally:
            stream.close()

    def _copy_blobs_parallel(self, pairs: list[tuple[Descriptor, Descriptor]]) -> None:
        """Copy blobs `jobs` at a time. On the first failure the others are stopped at
        their next read and that failure is raised."""
        self._cancelled.clear()
        with ThreadPoolExecutor(max_workers=self.jobs, thread_name_prefix="capsa-copy") as pool:
            unique = {t.digest: (s, t) for s, t in pairs}  # a layer listed twice moves once
            futures = [pool.submit(self._copy_blob, s, t) for s, t in unique.values()]
            done, _ = wait(futures, return_when=FIRST_EXCEPTION)
            failed = next((f for f in done if f.exception() is not None), None)
            if failed is not None:
                self._cancelled.set()
                for future in futures:
                    future.cancel()
                wait(futures)
                error = failed.exception()
                assert error is not None
                raise error

    def _must_decompress(self, layer: Descriptor) -> bool:
        if not mt.is_layer(layer.media_type):
            return False
        return mt.layer_compression(layer.media_type) not in self.dst.layer_compressions

    def _diff_ids(self, config: bytes | None, count: int) -> list[Digest]:
        if config is None:
            raise UnsupportedByDestination(
                f"{self.dst.description} cannot store compressed layers, and the image has "
                "no image config naming their uncompressed digests"
            )
        document: dict[str, Any] = load_json(config, "image config")
        rootfs = document.get("rootfs")
        raw = rootfs.get("diff_ids") if isinstance(rootfs, dict) else None
        if not isinstance(raw, list) or len(raw) != count:
            raise InvalidArgument(
                f"{self.src.description}: the image config does not list one DiffID per layer"
            )
        if not all(isinstance(item, str) for item in raw):
            raise InvalidArgument(f"{self.src.description}: the image config has a bad DiffID")
        return [Digest.parse(item) for item in raw]

    def _copy_decompressed(
        self, source: Descriptor, target: Descriptor, diff_id: Digest
    ) -> Descriptor:
        """Store a layer's plain tar instead of its compressed form; its digest is the
        DiffID, checked as the tar streams out of the decompressor."""
        known = self.decompressed.get(diff_id)
        if known is not None and self.dst.has_blob(diff_id):
            self._report(known, known.size, skipped=True)
            return known
        kind = mt.layer_compression(source.media_type)
        with tempfile.TemporaryFile() as spool:
            stream = self.src.get_blob(source)
            verified = VerifyingReader(self._reader(stream, source), source)
            hasher = diff_id.hasher()
            size = 0
            try:
                plain = compression.decompressed(verified, kind)
                while chunk := plain.read(CHUNK):
                    hasher.update(chunk)
                    spool.write(chunk)
                    size += len(chunk)
                verified.verify_end()
            except compression.CorruptStream as exc:
                verified.verify_end()  # a truncated or altered blob says so first
                raise InvalidArgument(f"{blob_name(source)} is not valid {kind}: {exc}") from None
            finally:
                stream.close()
            actual = Digest(diff_id.algorithm, hasher.hexdigest())
            if actual != diff_id:
                raise DigestMismatch(f"the uncompressed {blob_name(source)}", diff_id, actual)
            stored = replace(
                target,
                media_type=compression.uncompressed_type(target.media_type),
                digest=diff_id,
                size=size,
            )
            if not self.dst.has_blob(diff_id):
                spool.seek(0)
                self.dst.put_blob(stored, spool)
        self.decompressed[diff_id] = stored
        return stored

    # progress

    def _reader(self, stream: BlobReader, descriptor: Descriptor) -> BlobReader:
        if self.jobs > 1:
            stream = _CancellableReader(stream, self._cancelled, descriptor)
        if self.progress is None:
            return stream
        return _ProgressReader(stream, descriptor, self.progress)

    def _report(self, descriptor: Descriptor, done: int, *, skipped: bool = False) -> None:
        if self.progress is not None:
            self.progress(BlobProgress(descriptor, done, descriptor.size, skipped))


class _ProgressReader:
    def __init__(
        self, stream: BlobReader, descriptor: Descriptor, callback: ProgressCallback
    ) -> None:
        self._stream = stream
        self._descriptor = descriptor
        self._callback = callback
        self._done = 0

    def read(self, size: int = -1, /) -> bytes:
        chunk = self._stream.read(size)
        if chunk:
            self._done += len(chunk)
            self._callback(BlobProgress(self._descriptor, self._done, self._descriptor.size))
        return chunk

    def close(self) -> None:
        self._stream.close()


class _CancellableReader:
    """Stops a blob's copy when another one of the same image failed."""

    def __init__(
        self, stream: BlobReader, cancelled: threading.Event, descriptor: Descriptor
    ) -> None:
        self._stream = stream
        self._cancelled = cancelled
        self._descriptor = descriptor

    def read(self, size: int = -1, /) -> bytes:
        if self._cancelled.is_set():
            raise Conflict(f"copy of {blob_name(self._descriptor)} stopped: another blob failed")
        return self._stream.read(size)

    def close(self) -> None:
        self._stream.close()


def _concurrent(endpoint: object) -> bool:
    return getattr(endpoint, "concurrent_blobs", False) is True


def _kind(declared: str, given: str, default: str) -> str:
    """A document's media type: its own mediaType, else the one it was referenced as."""
    if declared:
        return declared
    if mt.is_manifest(given) or mt.is_index(given):
        return given
    return default


def _retarget(entry: Descriptor, written: Descriptor) -> Descriptor:
    """An index entry pointing at what was written (platform and annotations kept)."""
    if (entry.media_type, entry.digest, entry.size) == (
        written.media_type,
        written.digest,
        written.size,
    ):
        return entry
    return replace(entry, media_type=written.media_type, digest=written.digest, size=written.size)
