"""What a pushed manifest must be before the registry keeps it.

The registry stores a manifest's exact bytes, so it only reads them: valid JSON, a media
type it serves (OCI manifest or index, Docker schema 2 manifest or manifest list), every
field as the image-spec defines it (capsa.oci.manifest checks them), and a Content-Type
that agrees with the document's own `mediaType`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from capsa.errors import InvalidArgument
from capsa.oci import media_types as mt
from capsa.oci.descriptor import Descriptor
from capsa.oci.digest import Digest
from capsa.oci.manifest import Index, Manifest, parse_manifest_or_index
from capsa.registry.errors import RegistryError

SERVED_TYPES = frozenset(
    {mt.OCI_MANIFEST, mt.OCI_INDEX, mt.DOCKER_MANIFEST, mt.DOCKER_MANIFEST_LIST}
)
# Content-Types that name no kind of manifest: the document's mediaType (or shape) decides.
_GENERIC_TYPES = frozenset({"", "application/json", "application/octet-stream"})


@dataclass(frozen=True)
class PushedManifest:
    media_type: str
    document: Manifest | Index

    @property
    def blobs(self) -> list[Descriptor]:
        """Blobs that must be in the repository: the config and the layers, except
        foreign layers, which are fetched from their `urls` and never pushed."""
        if isinstance(self.document, Index):
            return []
        wanted = [self.document.config]
        wanted += [layer for layer in self.document.layers if not layer.urls]
        return wanted

    @property
    def children(self) -> list[Descriptor]:
        """Manifests an index lists, which must be in the repository first."""
        if isinstance(self.document, Index):
            return list(self.document.manifests)
        return []

    @property
    def subject(self) -> Descriptor | None:
        return self.document.subject

    def referrer(self, digest: Digest, size: int) -> dict[str, Any]:
        """This manifest's entry in its subject's referrers list (distribution-spec,
        "Listing Referrers"): an image manifest without artifactType takes its
        config's media type; an index without one has none."""
        descriptor: dict[str, Any] = {
            "mediaType": self.media_type,
            "digest": str(digest),
            "size": size,
        }
        artifact_type = self.document.artifact_type
        if not artifact_type and isinstance(self.document, Manifest):
            artifact_type = self.document.config.media_type
        if artifact_type:
            descriptor["artifactType"] = artifact_type
        if self.document.annotations:
            descriptor["annotations"] = dict(self.document.annotations)
        return descriptor


def bare_media_type(content_type: str | None) -> str:
    """A Content-Type without its parameters (the spec says registries ignore them)."""
    return (content_type or "").split(";", 1)[0].strip()


def check_manifest(data: bytes, content_type: str | None) -> PushedManifest:
    """Parse and check a pushed manifest, or raise MANIFEST_INVALID saying why."""
    given = bare_media_type(content_type)
    if mt.is_schema1(given):
        raise RegistryError(
            "MANIFEST_INVALID",
            "Docker schema 1 manifests are not supported",
            detail={"mediaType": given},
        )
    if given not in SERVED_TYPES and given not in _GENERIC_TYPES:
        raise RegistryError(
            "MANIFEST_INVALID",
            f"unsupported manifest media type {given!r}",
            detail={"mediaType": given, "supported": sorted(SERVED_TYPES)},
        )
    try:
        document = parse_manifest_or_index(data, given if given in SERVED_TYPES else None)
    except InvalidArgument as error:
        raise RegistryError("MANIFEST_INVALID", f"manifest invalid: {error}") from None
    declared = document.media_type
    if given in SERVED_TYPES:
        if declared and declared != given:
            raise RegistryError(
                "MANIFEST_INVALID",
                f"the manifest's mediaType {declared!r} does not match its Content-Type {given!r}",
                detail={"mediaType": declared, "contentType": given},
            )
        media_type = given
    else:
        media_type = declared or (mt.OCI_INDEX if isinstance(document, Index) else mt.OCI_MANIFEST)
    if media_type not in SERVED_TYPES:
        raise RegistryError(
            "MANIFEST_INVALID",
            f"unsupported manifest media type {media_type!r}",
            detail={"mediaType": media_type, "supported": sorted(SERVED_TYPES)},
        )
    return PushedManifest(media_type, document)


def accepts(accept_headers: list[str], media_type: str) -> bool:
    """Whether a client's Accept headers let it take a manifest stored as `media_type`.

    No Accept at all, `*/*` and `application/*` take anything (the registry never
    converts: it serves what was pushed). Docker schema 2 clients that list only
    `application/json` are old v1 clients, which get what there is too.
    """
    listed = [
        bare_media_type(item).lower()
        for header in accept_headers
        for item in header.split(",")
        if item.strip()
    ]
    if not listed:
        return True
    wanted = media_type.lower()
    return any(item in (wanted, "*/*", "application/*", "application/json") for item in listed)
