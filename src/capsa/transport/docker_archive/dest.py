"""Writing images into a docker-archive that `docker load`, `podman load` and skopeo read.

The layout is containers/image's (what skopeo and podman write, and Docker of every
version loads): the config as `<hex>.json`, each layer as `<hex>.tar` named by its digest,
manifest.json pointing at those, plus the v1 compatibility that loaders older than
manifest.json need (`repositories`, `<id>/VERSION`, `<id>/json`, `<id>/layer.tar` as a
link to the layer). Docker 25's layout (an OCI layout with `blobs/sha256/` beside
manifest.json) is read but not written: podman 4.3 tries a tar as an OCI archive before a
docker-archive, so it would load such an archive through index.json, with names from its
annotations rather than RepoTags. RepoTags are written in full
(`docker.io/library/busybox:latest`), as containers/image does: Docker reads both forms,
while podman reads a short `capsa/app:1` as `localhost/capsa/app:1`.

Gzip layers are stored as they are (`docker load` decompresses them); zstd layers, which
Docker's format cannot hold, arrive here already decompressed by the copy pipeline.
Several images may be written into one archive; it appears at close(), whole.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from capsa.errors import InvalidArgument
from capsa.oci import media_types
from capsa.oci.canonical import canonical_bytes, load_json
from capsa.oci.manifest import Manifest
from capsa.oci.media_types import Compression
from capsa.oci.reference import parse_reference
from capsa.transport._files import AtomicFile
from capsa.transport._tar import TarWriter
from capsa.transport.docker_archive import format as fmt
from capsa.transport.errors import UnsupportedByDestination
from capsa.transport.verify import copy_verified, verify_digest

if TYPE_CHECKING:
    from capsa.oci.descriptor import Descriptor
    from capsa.oci.digest import Digest
    from capsa.transport.types import BlobReader

_MAX_CONFIG = 16 << 20


@dataclass
class _Image:
    config: Digest
    layers: tuple[Digest, ...]
    tags: list[str] = field(default_factory=list)  # `docker.io/library/name:tag`


class DockerArchiveDestination:
    manifest_types = frozenset({media_types.DOCKER_MANIFEST})
    layer_compressions = frozenset({Compression.NONE, Compression.GZIP})
    sparse_indexes = False

    def __init__(self, path: str, ref: str | None, description: str) -> None:
        self.description = description
        self._ref = ref
        self._out = AtomicFile(path)
        self._tar = TarWriter(self._out.file)
        self._stored: dict[Digest, str] = {}  # digest -> member name
        self._configs: dict[Digest, bytes] = {}
        self._images: list[_Image] = []
        self._top: Manifest | None = None
        self._finished = False

    def has_blob(self, digest: Digest) -> bool:
        return digest in self._stored

    def put_blob(self, descriptor: Descriptor, stream: BlobReader) -> None:
        self._check_open()
        digest = descriptor.digest
        if digest in self._stored:
            return
        if media_types.is_config(descriptor.media_type):
            if descriptor.size > _MAX_CONFIG:
                raise InvalidArgument(f"{self.description}: the image config is too large")
            name = fmt.config_name(digest)
            parts: list[bytes] = []

            def keep(chunk: bytes, write: Any) -> None:
                parts.append(chunk)
                write(chunk)

            self._tar.add_stream(
                name,
                descriptor.size,
                lambda write: copy_verified(stream, lambda c: keep(c, write), descriptor),
            )
            self._configs[digest] = b"".join(parts)
        elif media_types.is_layer(descriptor.media_type):
            name = fmt.layer_name(digest)
            self._tar.add_stream(
                name, descriptor.size, lambda write: copy_verified(stream, write, descriptor)
            )
        else:
            raise UnsupportedByDestination(
                f"{self.description}: a docker-archive cannot hold a blob of type "
                f"{descriptor.media_type!r}"
            )
        self._stored[digest] = name

    def put_manifest(self, data: bytes, media_type: str, digest: Digest) -> None:
        self._check_open()
        if media_type != media_types.DOCKER_MANIFEST:
            raise UnsupportedByDestination(
                f"{self.description}: a docker-archive holds single images, not {media_type}",
                hint="choose one platform of a multi-platform image (--platform)",
            )
        verify_digest(data, digest, "the image manifest")
        manifest = Manifest.from_json(load_json(data, "manifest"))
        for blob in (manifest.config, *manifest.layers):
            if blob.digest not in self._stored:
                raise InvalidArgument(
                    f"{self.description}: the manifest references {blob.digest}, "
                    "which was not written"
                )
        self._top = manifest

    def commit(self, name: str | None = None) -> None:
        self._check_open()
        if self._top is None:
            raise InvalidArgument(f"{self.description}: nothing to commit (no manifest put)")
        tag = _full_tag(name if name is not None else self._ref)
        image = _Image(self._top.config.digest, tuple(d.digest for d in self._top.layers))
        for other in self._images:
            if tag in other.tags:
                other.tags.remove(tag)  # a name points at one image, the latest
        same = next(
            (o for o in self._images if (o.config, o.layers) == (image.config, image.layers)),
            None,
        )
        if same is None:
            self._images.append(image)
            same = image
        if tag is not None:
            same.tags.append(tag)

    def close(self) -> None:
        """Write the archive if an image was committed; otherwise write nothing."""
        if self._finished:
            return
        if not self._images:
            self.abort()
            return
        try:
            self._write_metadata()
            self._tar.finish()
            self._out.commit()
        except BaseException:
            self.abort()
            raise
        self._finished = True

    def abort(self) -> None:
        self._finished = True
        self._out.discard()

    def _write_metadata(self) -> None:
        repositories: dict[str, dict[str, str]] = {}
        entries: list[fmt.ArchiveEntry] = []
        for image in self._images:
            ids = fmt.legacy_layer_ids(image.layers)
            config = load_json(self._configs[image.config], "image config")
            for position, (layer_id, digest) in enumerate(zip(ids, image.layers, strict=True)):
                if f"{layer_id}/" in self._tar:
                    continue
                is_top = position == len(ids) - 1
                self._tar.add_directory(f"{layer_id}/")
                self._tar.add_bytes(f"{layer_id}/VERSION", fmt.LEGACY_VERSION)
                self._tar.add_bytes(
                    f"{layer_id}/json",
                    fmt.legacy_layer_json(
                        layer_id,
                        ids[position - 1] if position else None,
                        config if is_top else None,
                    ),
                )
                self._tar.add_symlink(f"{layer_id}/layer.tar", f"../{fmt.layer_name(digest)}")
            for tag in image.tags:
                repository, _, tag_name = tag.rpartition(":")
                if ids:
                    repositories.setdefault(repository, {})[tag_name] = ids[-1]
            entries.append(
                fmt.ArchiveEntry(
                    fmt.config_name(image.config),
                    tuple(fmt.layer_name(d) for d in image.layers),
                    tuple(image.tags),
                )
            )
        self._tar.add_bytes(fmt.MANIFEST_FILE, fmt.manifest_json_bytes(entries))
        self._tar.add_bytes(fmt.REPOSITORIES_FILE, canonical_bytes(repositories))

    def _check_open(self) -> None:
        if self._finished:
            raise InvalidArgument(f"{self.description}: the archive is already closed")


def _full_tag(name: str | None) -> str | None:
    """`docker.io/library/busybox:latest`: RepoTags as containers/image writes them.
    Docker writes the short form (`busybox:latest`) and reads both, but podman reads a
    name without a registry as `localhost/...`, so only the full name means the same to
    every loader."""
    if name is None:
        return None
    reference = parse_reference(name)
    if reference.digest is not None:
        raise InvalidArgument(
            f"cannot name an image {name!r} in a docker-archive: a digest is not a tag",
            hint="use name:tag",
        )
    return str(reference)
