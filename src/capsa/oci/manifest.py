"""Image manifests and image indexes (OCI, and Docker schema 2 manifests and manifest
lists, which have the same shapes under other media types). Docker schema 1 is refused.

from_json() checks every field the image-spec and its JSON schemas define and names the
first bad one; unknown fields and annotations are kept, so to_json() gives them back.
"""

from __future__ import annotations

from dataclasses import KW_ONLY, dataclass, field
from typing import TYPE_CHECKING, Any, NoReturn

from capsa.errors import InvalidArgument, field_error
from capsa.oci import _fields as check
from capsa.oci import media_types
from capsa.oci.canonical import load_json
from capsa.oci.descriptor import Descriptor

if TYPE_CHECKING:
    from collections.abc import Mapping

_MANIFEST_KEYS = (
    "schemaVersion",
    "mediaType",
    "artifactType",
    "config",
    "layers",
    "subject",
    "annotations",
)
_INDEX_KEYS = ("schemaVersion", "mediaType", "artifactType", "manifests", "subject", "annotations")


@dataclass(frozen=True)
class Manifest:
    """One image for one platform: a config blob and layers, base layer first."""

    config: Descriptor
    layers: tuple[Descriptor, ...]
    _: KW_ONLY
    # "" when the document carries no mediaType (allowed, though OCI says it SHOULD).
    media_type: str = media_types.OCI_MANIFEST
    artifact_type: str = ""
    subject: Descriptor | None = None
    annotations: Mapping[str, str] = field(default_factory=dict)
    extra: Mapping[str, Any] = field(default_factory=dict)

    @property
    def is_docker(self) -> bool:
        return self.media_type == media_types.DOCKER_MANIFEST

    @classmethod
    def from_json(cls, value: object, where: str = "manifest") -> Manifest:
        document = check.obj(value, where)
        declared = _declared_type(document, where)
        check.schema_version(document, where)
        if declared and not media_types.is_manifest(declared):
            _wrong_type(declared, where, "an image manifest", media_types.MANIFEST_TYPES)
        if "manifests" in document:
            raise field_error(
                f"{where}.manifests",
                "an image manifest has no manifests list (is this an image index?)",
            )
        for key in ("config", "layers"):
            if key not in document:
                raise field_error(f"{where}.{key}", "is missing")
        config = Descriptor.from_json(document["config"], f"{where}.config")
        layers = tuple(
            Descriptor.from_json(layer, f"{where}.layers[{i}]")
            for i, layer in enumerate(check.array(document["layers"], f"{where}.layers"))
        )
        artifact_type = _artifact_type(document, where)
        if config.media_type == media_types.OCI_EMPTY and not artifact_type:
            raise field_error(
                f"{where}.artifactType",
                f"must be set when config.mediaType is {media_types.OCI_EMPTY}",
            )
        return cls(
            config,
            layers,
            media_type=declared,
            artifact_type=artifact_type,
            subject=_subject(document, where),
            annotations=_annotations(document, where),
            extra=check.extras(document, _MANIFEST_KEYS),
        )

    def to_json(self) -> dict[str, Any]:
        document: dict[str, Any] = {"schemaVersion": 2}
        if self.media_type:
            document["mediaType"] = self.media_type
        if self.artifact_type:
            document["artifactType"] = self.artifact_type
        document["config"] = self.config.to_json()
        document["layers"] = [layer.to_json() for layer in self.layers]
        if self.subject is not None:
            document["subject"] = self.subject.to_json()
        if self.annotations:
            document["annotations"] = dict(self.annotations)
        document.update(self.extra)
        return document


@dataclass(frozen=True)
class Index:
    """A list of manifests (or nested indexes), usually one per platform."""

    manifests: tuple[Descriptor, ...]
    _: KW_ONLY
    media_type: str = media_types.OCI_INDEX
    artifact_type: str = ""
    subject: Descriptor | None = None
    annotations: Mapping[str, str] = field(default_factory=dict)
    extra: Mapping[str, Any] = field(default_factory=dict)

    @property
    def is_docker(self) -> bool:
        return self.media_type == media_types.DOCKER_MANIFEST_LIST

    @classmethod
    def from_json(cls, value: object, where: str = "index") -> Index:
        document = check.obj(value, where)
        declared = _declared_type(document, where)
        check.schema_version(document, where)
        if declared and not media_types.is_index(declared):
            _wrong_type(declared, where, "an image index", media_types.INDEX_TYPES)
        for key in ("config", "layers"):
            if key in document:
                raise field_error(
                    f"{where}.{key}", f"an image index has no {key} (is this an image manifest?)"
                )
        if "manifests" not in document:
            raise field_error(f"{where}.manifests", "is missing")
        manifests = tuple(
            Descriptor.from_json(entry, f"{where}.manifests[{i}]")
            for i, entry in enumerate(check.array(document["manifests"], f"{where}.manifests"))
        )
        return cls(
            manifests,
            media_type=declared,
            artifact_type=_artifact_type(document, where),
            subject=_subject(document, where),
            annotations=_annotations(document, where),
            extra=check.extras(document, _INDEX_KEYS),
        )

    def to_json(self) -> dict[str, Any]:
        document: dict[str, Any] = {"schemaVersion": 2}
        if self.media_type:
            document["mediaType"] = self.media_type
        if self.artifact_type:
            document["artifactType"] = self.artifact_type
        document["manifests"] = [entry.to_json() for entry in self.manifests]
        if self.subject is not None:
            document["subject"] = self.subject.to_json()
        if self.annotations:
            document["annotations"] = dict(self.annotations)
        document.update(self.extra)
        return document


def parse_manifest_or_index(data: bytes, media_type: str | None = None) -> Manifest | Index:
    """Parse stored or fetched bytes as a manifest or an index.

    `media_type` is what the bytes were served or referenced as (a registry's
    Content-Type, a descriptor's mediaType); the document's own mediaType wins when both
    are present and must then be of the same kind. Without either, the shape decides.
    """
    kind_name = "manifest"
    if media_type is not None and media_types.is_index(media_type):
        kind_name = "index"
    document = load_json(data, kind_name)
    if media_type is not None and media_types.is_schema1(media_type):
        raise check.schema1_error(kind_name)
    declared = document.get("mediaType")
    if isinstance(declared, str) and media_types.is_schema1(declared):
        raise check.schema1_error(kind_name)
    if not isinstance(declared, str) or not declared:
        declared = None
    if (
        declared is not None
        and media_type is not None
        and _is_image(media_type)
        and media_types.is_index(declared) != media_types.is_index(media_type)
    ):
        raise InvalidArgument(
            f"invalid {kind_name}: the document says it is {declared} "
            f"but it was given as {media_type}",
            hint="the source is inconsistent; refusing rather than guessing",
        )
    # A transport may serve a document as application/json or octet-stream: not a kind.
    kind = declared or (media_type if media_type is not None and _is_image(media_type) else None)
    if kind is None:
        is_index = "manifests" in document
    elif media_types.is_index(kind):
        is_index = True
    elif media_types.is_manifest(kind):
        is_index = False
    else:
        raise InvalidArgument(
            f"{kind!r} is not an image manifest or index",
            hint="expected one of " + ", ".join(media_types.ACCEPTED_MANIFEST_TYPES),
        )
    if is_index:
        return Index.from_json(document)
    return Manifest.from_json(document)


def _is_image(media_type: str) -> bool:
    return media_types.is_manifest(media_type) or media_types.is_index(media_type)


def _declared_type(document: Mapping[str, Any], where: str) -> str:
    if "mediaType" not in document:
        return ""
    declared = check.media_type(document["mediaType"], f"{where}.mediaType")
    if media_types.is_schema1(declared):
        raise check.schema1_error(where)
    return declared


def _wrong_type(declared: str, where: str, wanted: str, accepted: frozenset[str]) -> NoReturn:
    raise field_error(
        f"{where}.mediaType",
        f"{declared!r} is not {wanted}",
        hint="expected " + " or ".join(sorted(accepted)),
    )


def _artifact_type(document: Mapping[str, Any], where: str) -> str:
    if "artifactType" not in document:
        return ""
    return check.media_type(document["artifactType"], f"{where}.artifactType")


def _subject(document: Mapping[str, Any], where: str) -> Descriptor | None:
    if "subject" not in document:
        return None
    return Descriptor.from_json(document["subject"], f"{where}.subject")


def _annotations(document: Mapping[str, Any], where: str) -> dict[str, str]:
    if "annotations" not in document:
        return {}
    return check.string_map(document["annotations"], f"{where}.annotations")
