"""Converting manifests and indexes between Docker schema 2 and OCI media types.

The two formats have the same shape; only media types differ (image-spec's
media-types.md compatibility matrix). Converting a document re-serialises it, so its
digest changes; blobs (configs and layers) keep their bytes and digests, only the media
types in their descriptors change.
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING

from capsa.oci import media_types as mt
from capsa.transport.errors import UnsupportedByDestination

if TYPE_CHECKING:
    from capsa.oci.descriptor import Descriptor
    from capsa.oci.manifest import Index, Manifest

_CONFIG = {mt.OCI_CONFIG: mt.DOCKER_CONFIG}
_DOCUMENT = {mt.OCI_MANIFEST: mt.DOCKER_MANIFEST, mt.OCI_INDEX: mt.DOCKER_MANIFEST_LIST}
_NONDISTRIBUTABLE = {
    mt.OCI_LAYER_NONDISTRIBUTABLE: mt.DOCKER_FOREIGN_LAYER,
    mt.OCI_LAYER_NONDISTRIBUTABLE_GZIP: mt.DOCKER_FOREIGN_LAYER_GZIP,
}


def _reverse(table: dict[str, str]) -> dict[str, str]:
    return {value: key for key, value in table.items()}


def family_is_docker(media_type: str) -> bool:
    return mt.is_docker(media_type)


def document_type(media_type: str, *, docker: bool) -> str:
    """The manifest or index media type of the other family (or the same one)."""
    if mt.is_docker(media_type) == docker:
        return media_type
    table = _DOCUMENT if docker else _reverse(_DOCUMENT)
    return table[media_type]


def blob_type(media_type: str, *, docker: bool, where: str) -> str:
    """A config's or layer's media type in the other family."""
    if mt.is_docker(media_type) == docker:
        return media_type
    config = _CONFIG if docker else _reverse(_CONFIG)
    if media_type in config:
        return config[media_type]
    foreign = _NONDISTRIBUTABLE if docker else _reverse(_NONDISTRIBUTABLE)
    if media_type in foreign:
        return foreign[media_type]
    if mt.is_layer(media_type) and not mt.is_nondistributable(media_type):
        return mt.layer_media_type(mt.layer_compression(media_type), docker=docker)
    if not docker:
        return media_type  # an OCI artifact may reference blobs of any type
    raise UnsupportedByDestination(
        f"{where} has media type {media_type!r}, which Docker's image format cannot hold",
        hint="only container images (image config and tar layers) convert to Docker's format",
    )


def convert_manifest(manifest: Manifest, *, docker: bool) -> Manifest:
    """The manifest with every media type in the wanted family. Docker's format has no
    annotations, subject or artifactType: converting to it drops them."""
    if manifest.artifact_type and docker:
        raise UnsupportedByDestination(
            f"the manifest is an OCI artifact ({manifest.artifact_type}), not an image",
            hint="Docker's image format holds container images only",
        )
    config = _descriptor(manifest.config, docker, "the image config")
    layers = tuple(
        _descriptor(layer, docker, f"layer {i}") for i, layer in enumerate(manifest.layers)
    )
    kind = document_type(manifest.media_type or mt.OCI_MANIFEST, docker=docker)
    if docker:
        return replace(
            manifest,
            config=config,
            layers=layers,
            media_type=kind,
            annotations={},
            subject=None,
            artifact_type="",
        )
    return replace(manifest, config=config, layers=layers, media_type=kind)


def convert_index(index: Index, entries: tuple[Descriptor, ...], *, docker: bool) -> Index:
    """The index in the wanted family, listing `entries` (its converted children)."""
    kind = document_type(index.media_type or mt.OCI_INDEX, docker=docker)
    if docker:
        return replace(
            index,
            manifests=entries,
            media_type=kind,
            annotations={},
            subject=None,
            artifact_type="",
        )
    return replace(index, manifests=entries, media_type=kind)


def _descriptor(descriptor: Descriptor, docker: bool, where: str) -> Descriptor:
    kind = blob_type(descriptor.media_type, docker=docker, where=where)
    if docker and descriptor.annotations:
        return replace(descriptor, media_type=kind, annotations={})
    return replace(descriptor, media_type=kind)
