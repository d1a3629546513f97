"""Small images built in memory for transport tests, and an in-memory ImageSource.

Imported by the unit and interop transport tests (a helper module, not a test file).
"""

from __future__ import annotations

import gzip
import io
import tarfile
from dataclasses import dataclass, field
from typing import Any

import zstandard

from capsa.errors import NotFound
from capsa.oci import media_types as mt
from capsa.oci.canonical import canonical_bytes
from capsa.oci.descriptor import Descriptor
from capsa.oci.digest import Digest
from capsa.oci.manifest import Index, Manifest
from capsa.oci.media_types import Compression
from capsa.oci.platform import Platform


def layer_tar(files: dict[str, bytes]) -> bytes:
    """A deterministic tar of regular files (and their parent directories)."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as tar:
        directories: set[str] = set()
        for name in sorted(files):
            parts = name.split("/")[:-1]
            for depth in range(1, len(parts) + 1):
                directory = "/".join(parts[:depth])
                if directory not in directories:
                    directories.add(directory)
                    info = tarfile.TarInfo(directory)
                    info.type = tarfile.DIRTYPE
                    info.mode = 0o755
                    tar.addfile(info)
            info = tarfile.TarInfo(name)
            info.size = len(files[name])
            info.mode = 0o644
            tar.addfile(info, io.BytesIO(files[name]))
    return buffer.getvalue()


def compress(data: bytes, kind: Compression) -> bytes:
    if kind is Compression.GZIP:
        return gzip.compress(data, mtime=0)
    if kind is Compression.ZSTD:
        return zstandard.ZstdCompressor().compress(data)
    return data


@dataclass
class BuiltImage:
    """One single-platform image: its manifest and every blob, by digest."""

    manifest: bytes
    media_type: str
    config: bytes
    diff_ids: list[Digest]
    blobs: dict[Digest, bytes] = field(default_factory=dict)

    @property
    def digest(self) -> Digest:
        return Digest.of(self.manifest)

    @property
    def parsed(self) -> Manifest:
        from capsa.oci.manifest import parse_manifest_or_index

        document = parse_manifest_or_index(self.manifest, self.media_type)
        assert isinstance(document, Manifest)
        return document

    def descriptor(self, platform: Platform | None = None) -> Descriptor:
        return Descriptor(self.media_type, self.digest, len(self.manifest), platform=platform)


def build_image(
    layers: list[tuple[dict[str, bytes], Compression]],
    *,
    docker: bool = False,
    architecture: str = "amd64",
    os: str = "linux",
    variant: str = "",
    cmd: list[str] | None = None,
) -> BuiltImage:
    """An image whose layers hold these files, compressed so."""
    return image_of_tars(
        [(layer_tar(files), kind) for files, kind in layers],
        docker=docker,
        architecture=architecture,
        os=os,
        variant=variant,
        cmd=cmd,
    )


def image_of_tars(
    tars: list[tuple[bytes, Compression]],
    *,
    docker: bool = False,
    architecture: str = "amd64",
    os: str = "linux",
    variant: str = "",
    cmd: list[str] | None = None,
) -> BuiltImage:
    """An image of these layer tars (uncompressed bytes), compressed so."""
    blobs: dict[Digest, bytes] = {}
    layer_descriptors: list[Descriptor] = []
    diff_ids: list[Digest] = []
    for raw, kind in tars:
        stored = compress(raw, kind)
        diff_ids.append(Digest.of(raw))
        descriptor = Descriptor.from_bytes(mt.layer_media_type(kind, docker=docker), stored)
        blobs[descriptor.digest] = stored
        layer_descriptors.append(descriptor)
    document: dict[str, Any] = {"architecture": architecture, "os": os}
    if variant:
        document["variant"] = variant
    document["config"] = {"Cmd": cmd or ["/bin/sh"], "Env": ["PATH=/bin"]}
    document["rootfs"] = {"type": "layers", "diff_ids": [str(d) for d in diff_ids]}
    config = canonical_bytes(document)
    config_descriptor = Descriptor.from_bytes(mt.DOCKER_CONFIG if docker else mt.OCI_CONFIG, config)
    blobs[config_descriptor.digest] = config
    media_type = mt.DOCKER_MANIFEST if docker else mt.OCI_MANIFEST
    manifest = Manifest(config_descriptor, tuple(layer_descriptors), media_type=media_type)
    data = canonical_bytes(manifest)
    return BuiltImage(data, media_type, config, diff_ids, blobs)


def simple_image(docker: bool = False, **kwargs: Any) -> BuiltImage:
    """Three layers: gzip, zstd and plain tar."""
    return build_image(
        [
            ({"etc/hostname": b"capsa\n", "bin/hello": b"#!/bin/sh\necho hi\n"}, Compression.GZIP),
            ({"usr/share/doc/readme": b"zstd layer\n" * 100}, Compression.ZSTD),
            ({"tmp/plain": b"plain layer\n"}, Compression.NONE),
        ],
        docker=docker,
        **kwargs,
    )


class MemorySource:
    """An ImageSource over bytes in memory: a manifest or an index and its blobs."""

    def __init__(
        self,
        top: bytes,
        media_type: str,
        blobs: dict[Digest, bytes],
        manifests: dict[Digest, bytes] | None = None,
        description: str = "memory:test",
    ) -> None:
        self.description = description
        self.top = top
        self.media_type = media_type
        self.blobs = dict(blobs)
        self.manifests = dict(manifests or {})
        self.manifests[Digest.of(top)] = top
        self.closed = False

    def top_manifest(self) -> tuple[bytes, str]:
        return self.top, self.media_type

    def get_manifest(self, digest: Digest) -> bytes:
        if digest not in self.manifests:
            raise NotFound(f"no manifest {digest}")
        return self.manifests[digest]

    def get_blob(self, descriptor: Descriptor) -> io.BytesIO:
        if descriptor.digest not in self.blobs:
            raise NotFound(f"no blob {descriptor.digest}")
        return io.BytesIO(self.blobs[descriptor.digest])

    def has_blob(self, descriptor: Descriptor) -> bool:
        return descriptor.digest in self.blobs or descriptor.digest in self.manifests

    def close(self) -> None:
        self.closed = True


def image_source(image: BuiltImage) -> MemorySource:
    return MemorySource(image.manifest, image.media_type, image.blobs)


PLATFORMS = (
    ("amd64", ""),
    ("arm64", "v8"),
    ("arm", "v7"),
)


def multi_platform(docker: bool = False) -> tuple[MemorySource, dict[str, BuiltImage]]:
    """An index of three platforms; every image has its own small layers."""
    images: dict[str, BuiltImage] = {}
    entries: list[Descriptor] = []
    blobs: dict[Digest, bytes] = {}
    manifests: dict[Digest, bytes] = {}
    for architecture, variant in PLATFORMS:
        image = build_image(
            [
                ({"etc/arch": architecture.encode()}, Compression.GZIP),
                ({"bin/tool": (architecture * 50).encode()}, Compression.ZSTD),
            ],
            docker=docker,
            architecture=architecture,
            variant=variant,
        )
        key = f"linux/{architecture}" + (f"/{variant}" if variant else "")
        images[key] = image
        platform = Platform("linux", architecture, variant)
        entries.append(image.descriptor(platform))
        blobs.update(image.blobs)
        manifests[image.digest] = image.manifest
    media_type = mt.DOCKER_MANIFEST_LIST if docker else mt.OCI_INDEX
    index = canonical_bytes(Index(tuple(entries), media_type=media_type))
    return MemorySource(index, media_type, blobs, manifests), images
