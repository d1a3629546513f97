"""Media types of OCI images and Docker schema 2 images, and what each one means.

The OCI names come from the image-spec's media-types.md; the Docker names from Docker's
"Image Manifest V2, Schema 2" (distribution's manifest-v2-2.md), which OCI copied: a Docker
manifest and an OCI manifest have the same shape, only the media types differ.
"""

from __future__ import annotations

import re
from enum import StrEnum

from capsa.errors import InvalidArgument

# OCI image-spec
OCI_DESCRIPTOR = "application/vnd.oci.descriptor.v1+json"
OCI_LAYOUT_HEADER = "application/vnd.oci.layout.header.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_EMPTY = "application/vnd.oci.empty.v1+json"
OCI_LAYER = "application/vnd.oci.image.layer.v1.tar"
OCI_LAYER_GZIP = "application/vnd.oci.image.layer.v1.tar+gzip"
OCI_LAYER_ZSTD = "application/vnd.oci.image.layer.v1.tar+zstd"
# Deprecated by the spec, but images carrying them must still be pulled and run.
OCI_LAYER_NONDISTRIBUTABLE = "application/vnd.oci.image.layer.nondistributable.v1.tar"
OCI_LAYER_NONDISTRIBUTABLE_GZIP = "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip"
OCI_LAYER_NONDISTRIBUTABLE_ZSTD = "application/vnd.oci.image.layer.nondistributable.v1.tar+zstd"

# Docker image manifest v2, schema 2
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_MANIFEST_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
DOCKER_CONFIG = "application/vnd.docker.container.image.v1+json"
DOCKER_LAYER_GZIP = "application/vnd.docker.image.rootfs.diff.tar.gzip"
# Foreign layers (Windows base layers) are fetched from their `urls`, never pushed.
DOCKER_FOREIGN_LAYER_GZIP = "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip"
# Not in Docker's spec, but written by containerd and BuildKit (containerd's images package).
DOCKER_LAYER = "application/vnd.docker.image.rootfs.diff.tar"
DOCKER_LAYER_ZSTD = "application/vnd.docker.image.rootfs.diff.tar.zstd"
DOCKER_FOREIGN_LAYER = "application/vnd.docker.image.rootfs.foreign.diff.tar"
DOCKER_PLUGIN_CONFIG = "application/vnd.docker.plugin.v1+json"

# Docker schema 1: signed, without a config blob or content-addressed image ID. Refused.
DOCKER_SCHEMA1_MANIFEST = "application/vnd.docker.distribution.manifest.v1+json"
DOCKER_SCHEMA1_SIGNED_MANIFEST = "application/vnd.docker.distribution.manifest.v1+prettyjws"

MANIFEST_TYPES = frozenset({OCI_MANIFEST, DOCKER_MANIFEST})
INDEX_TYPES = frozenset({OCI_INDEX, DOCKER_MANIFEST_LIST})
CONFIG_TYPES = frozenset({OCI_CONFIG, DOCKER_CONFIG})
SCHEMA1_TYPES = frozenset({DOCKER_SCHEMA1_MANIFEST, DOCKER_SCHEMA1_SIGNED_MANIFEST})
NONDISTRIBUTABLE_LAYER_TYPES = frozenset(
    {
        OCI_LAYER_NONDISTRIBUTABLE,
        OCI_LAYER_NONDISTRIBUTABLE_GZIP,
        OCI_LAYER_NONDISTRIBUTABLE_ZSTD,
        DOCKER_FOREIGN_LAYER,
        DOCKER_FOREIGN_LAYER_GZIP,
    }
)
LAYER_TYPES = frozenset(
    {
        OCI_LAYER,
        OCI_LAYER_GZIP,
        OCI_LAYER_ZSTD,
        DOCKER_LAYER,
        DOCKER_LAYER_GZIP,
        DOCKER_LAYER_ZSTD,
        *NONDISTRIBUTABLE_LAYER_TYPES,
    }
)

# The manifest and index types a client accepts, best first (the registry's Accept header).
ACCEPTED_MANIFEST_TYPES = (OCI_INDEX, OCI_MANIFEST, DOCKER_MANIFEST_LIST, DOCKER_MANIFEST)

# RFC 6838 section 4.2 restricted names, as the image-spec's JSON schema spells them.
_MEDIA_TYPE = re.compile(
    r"[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,126}/[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,126}"
)
# The tar base types a layer media type extends with a compression suffix.
_TAR_BASES = (OCI_LAYER, OCI_LAYER_NONDISTRIBUTABLE, DOCKER_LAYER, DOCKER_FOREIGN_LAYER)
_NONDISTRIBUTABLE_BASES = (OCI_LAYER_NONDISTRIBUTABLE, DOCKER_FOREIGN_LAYER)


class Compression(StrEnum):
    """How a layer blob is compressed; its value names the codec."""

    NONE = "none"
    GZIP = "gzip"
    ZSTD = "zstd"


def is_valid(media_type: str) -> bool:
    """True if `media_type` is an RFC 6838 `type/subtype` name (no parameters)."""
    return _MEDIA_TYPE.fullmatch(media_type) is not None


def is_manifest(media_type: str) -> bool:
    """An image manifest, OCI or Docker schema 2."""
    return media_type in MANIFEST_TYPES


def is_index(media_type: str) -> bool:
    """An image index or a Docker manifest list."""
    return media_type in INDEX_TYPES


def is_config(media_type: str) -> bool:
    """An image configuration (OCI or Docker): the only config types capsa parses."""
    return media_type in CONFIG_TYPES


def is_schema1(media_type: str) -> bool:
    return media_type in SCHEMA1_TYPES


def is_docker(media_type: str) -> bool:
    return media_type.startswith("application/vnd.docker.")


def is_layer(media_type: str) -> bool:
    """A filesystem layer capsa can unpack: a tar, plain or compressed, of a known base."""
    return _split_layer(media_type) is not None


def is_nondistributable(media_type: str) -> bool:
    """A layer that must not be pushed (OCI non-distributable, Docker foreign)."""
    split = _split_layer(media_type)
    return split is not None and split[0] in _NONDISTRIBUTABLE_BASES


def layer_compression(media_type: str) -> Compression:
    """The compression of a layer media type: `+gzip`/`+zstd` (OCI) or `.gzip`/`.zstd`
    (Docker's `.tar.gzip`). Raises InvalidArgument for a type that is not a layer."""
    split = _split_layer(media_type)
    if split is None:
        raise InvalidArgument(
            f"media type {media_type!r} is not a filesystem layer",
            hint="layers are tar archives: " + ", ".join(sorted(LAYER_TYPES)),
        )
    return split[1]


def layer_media_type(compression: Compression, *, docker: bool = False) -> str:
    """The media type to write for a distributable layer with this compression."""
    if docker:
        table = {
            Compression.NONE: DOCKER_LAYER,
            Compression.GZIP: DOCKER_LAYER_GZIP,
            Compression.ZSTD: DOCKER_LAYER_ZSTD,
        }
    else:
        table = {
            Compression.NONE: OCI_LAYER,
            Compression.GZIP: OCI_LAYER_GZIP,
            Compression.ZSTD: OCI_LAYER_ZSTD,
        }
    return table[compression]


def _split_layer(media_type: str) -> tuple[str, Compression] | None:
    for base in _TAR_BASES:
        if media_type == base:
            return base, Compression.NONE
        if not media_type.startswith(base):
            continue
        suffix = media_type[len(base) :]
        # OCI appends `+codec`; Docker appends `.codec` (`.tar.gzip`).
        separator = "." if is_docker(base) else "+"
        for compression in (Compression.GZIP, Compression.ZSTD):
            if suffix == separator + compression.value:
                return base, compression
    return None
