"""Reading an image from a docker-archive (`docker save` output, any of its layouts).

The archive has no manifest: the source makes a Docker schema 2 manifest from
manifest.json, the config and the layer files as they are stored (a gzip layer stays
gzip, with the digest of its stored bytes). A layer's digest comes from the config's
DiffID when the file is a plain tar, from its name when the writer named it by content
(checked by whoever reads it), and otherwise from hashing the file once.
"""

from __future__ import annotations

from io import BytesIO
from typing import TYPE_CHECKING, Any

from capsa.errors import InvalidArgument, NotFound
from capsa.oci import media_types
from capsa.oci.canonical import canonical_bytes, load_json
from capsa.oci.descriptor import Descriptor
from capsa.oci.digest import Digest, new_hasher
from capsa.oci.manifest import Manifest
from capsa.oci.reference import parse_reference
from capsa.transport import compression
from capsa.transport._tar import TarReader
from capsa.transport.docker_archive import format as fmt
from capsa.transport.types import CHUNK
from capsa.transport.verify import read_bounded

if TYPE_CHECKING:
    from capsa.transport.types import BlobReader


class DockerArchiveSource:
    def __init__(
        self, path: str, ref: str | None, source_index: int | None, description: str
    ) -> None:
        self.description = description
        self._tar = TarReader(path, description)
        try:
            self._load(ref, source_index)
        except BaseException:
            self._tar.close()
            raise

    def _load(self, ref: str | None, source_index: int | None) -> None:
        if not self._tar.exists(fmt.MANIFEST_FILE):
            raise InvalidArgument(
                f"{self.description}: not a docker-archive (it has no {fmt.MANIFEST_FILE})",
                hint="archives of Docker before 1.10 are not supported; an OCI archive "
                "is read as oci-archive:PATH",
            )
        entries = fmt.parse_manifest_json(self._read(fmt.MANIFEST_FILE), self.description)
        self.entry = _choose(entries, ref, source_index, self.description)
        self._config = self._read(self.entry.config)
        config_digest = Digest.of(self._config)
        diff_ids = _diff_ids(self._config, self.description)
        if len(diff_ids) != len(self.entry.layers):
            raise InvalidArgument(
                f"{self.description}: the image config lists {len(diff_ids)} layers but "
                f"{fmt.MANIFEST_FILE} lists {len(self.entry.layers)}"
            )
        self._paths: dict[Digest, str] = {}
        layers = []
        for path, diff_id in zip(self.entry.layers, diff_ids, strict=True):
            layer = self._describe_layer(path, diff_id)
            self._paths.setdefault(layer.digest, path)
            layers.append(layer)
        self._config_descriptor = Descriptor(
            media_types.DOCKER_CONFIG, config_digest, len(self._config)
        )
        manifest = Manifest(
            self._config_descriptor, tuple(layers), media_type=media_types.DOCKER_MANIFEST
        )
        self._manifest = canonical_bytes(manifest)
        self._manifest_digest = Digest.of(self._manifest)

    @property
    def repo_tags(self) -> tuple[str, ...]:
        """The names the chosen image has in the archive."""
        return self.entry.repo_tags

    def top_manifest(self) -> tuple[bytes, str]:
        return self._manifest, media_types.DOCKER_MANIFEST

    def get_manifest(self, digest: Digest) -> bytes:
        if digest != self._manifest_digest:
            raise NotFound(f"{self.description}: no manifest {digest}")
        return self._manifest

    def get_blob(self, descriptor: Descriptor) -> BlobReader:
        if descriptor.digest == self._config_descriptor.digest:
            return BytesIO(self._config)
        path = self._paths.get(descriptor.digest)
        if path is None:
            raise NotFound(f"{self.description}: the image has no blob {descriptor.digest}")
        return self._tar.open(path)

    def has_blob(self, descriptor: Descriptor) -> bool:
        return descriptor.digest in (self._config_descriptor.digest, self._manifest_digest) or (
            descriptor.digest in self._paths
        )

    def close(self) -> None:
        self._tar.close()

    def _describe_layer(self, path: str, diff_id: Digest) -> Descriptor:
        size = self._tar.size(path)
        stream = self._tar.open(path)
        try:
            kind = compression.detect(stream.read(compression.MAGIC_LENGTH))
        finally:
            stream.close()
        media_type = media_types.layer_media_type(kind, docker=True)
        if kind is media_types.Compression.NONE:
            return Descriptor(media_type, diff_id, size)
        digest = fmt.digest_in_name(path) or self._hash(path, diff_id.algorithm)
        return Descriptor(media_type, digest, size)

    def _hash(self, path: str, algorithm: str) -> Digest:
        stream = self._tar.open(path)
        try:
            hasher = new_hasher(algorithm)
            while chunk := stream.read(CHUNK):
                hasher.update(chunk)
        finally:
            stream.close()
        return Digest(algorithm, hasher.hexdigest())

    def _read(self, name: str) -> bytes:
        stream = self._tar.open(name)
        try:
            return read_bounded(stream, f"{self.description}: {name}")
        finally:
            stream.close()


def _choose(
    entries: list[fmt.ArchiveEntry], ref: str | None, index: int | None, where: str
) -> fmt.ArchiveEntry:
    if index is not None:
        if index >= len(entries):
            raise NotFound(f"{where}: no image @{index}; the archive holds {len(entries)}")
        return entries[index]
    if ref is None:
        if len(entries) == 1:
            return entries[0]
        if not entries:
            raise NotFound(f"{where}: the archive holds no image")
        raise InvalidArgument(
            f"{where}: the archive holds {len(entries)} images; name one",
            hint=_names_hint(entries),
        )
    for entry in entries:
        for tag in entry.repo_tags:
            try:
                if str(parse_reference(tag)) == ref:
                    return entry
            except InvalidArgument:
                continue
    raise NotFound(f"{where}: no image named {ref} in the archive", hint=_names_hint(entries))


def _names_hint(entries: list[fmt.ArchiveEntry]) -> str:
    names = [tag for entry in entries for tag in entry.repo_tags]
    listed = ", ".join(names) if names else "no names"
    return f"it has {listed}; name an image by name:tag or by position @N (from 0)"


def _diff_ids(config: bytes, where: str) -> list[Digest]:
    document: dict[str, Any] = load_json(config, f"{where}: image config")
    rootfs = document.get("rootfs")
    diff_ids = rootfs.get("diff_ids") if isinstance(rootfs, dict) else None
    if not isinstance(diff_ids, list):
        raise InvalidArgument(f"{where}: the image config has no rootfs.diff_ids")
    try:
        return [Digest.parse(item) for item in diff_ids if isinstance(item, str)]
    except InvalidArgument as exc:
        raise InvalidArgument(f"{where}: the image config has a bad DiffID: {exc}") from None
