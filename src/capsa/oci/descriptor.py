"""Content descriptors: what a blob is (media type), which one (digest) and how big."""

from __future__ import annotations

import base64
import binascii
from dataclasses import KW_ONLY, dataclass, field
from typing import TYPE_CHECKING, Any

from capsa.errors import field_error
from capsa.oci import _fields as check
from capsa.oci import media_types
from capsa.oci.digest import REGISTERED, Digest
from capsa.oci.platform import Platform

if TYPE_CHECKING:
    from collections.abc import Mapping

_KNOWN = ("mediaType", "digest", "size", "urls", "annotations", "data", "platform", "artifactType")


@dataclass(frozen=True)
class Descriptor:
    """A descriptor as the image-spec defines it; `platform` is set on index entries.

    Equal descriptors have equal fields; the hash covers media type, digest and size.
    """

    media_type: str
    digest: Digest
    size: int
    _: KW_ONLY
    urls: tuple[str, ...] = ()
    annotations: Mapping[str, str] = field(default_factory=dict)
    # The embedded content, base64 as written (kept as text so re-serialising is exact).
    data: str | None = None
    artifact_type: str = ""
    platform: Platform | None = None
    # Fields this capsa does not know, in document order, kept for re-serialising.
    extra: Mapping[str, Any] = field(default_factory=dict)

    def __hash__(self) -> int:
        return hash((self.media_type, str(self.digest), self.size))

    @classmethod
    def from_bytes(
        cls,
        media_type: str,
        content: bytes,
        *,
        algorithm: str = "sha256",
        annotations: Mapping[str, str] | None = None,
        platform: Platform | None = None,
        artifact_type: str = "",
    ) -> Descriptor:
        """The descriptor of `content`, exactly these bytes."""
        return cls(
            media_type,
            Digest.of(content, algorithm),
            len(content),
            annotations=dict(annotations or {}),
            platform=platform,
            artifact_type=artifact_type,
        )

    @classmethod
    def from_json(cls, value: object, where: str = "descriptor") -> Descriptor:
        document = check.obj(value, where)
        for key in ("mediaType", "digest", "size"):
            if key not in document:
                raise field_error(f"{where}.{key}", "is missing")
        descriptor = cls(
            check.media_type(document["mediaType"], f"{where}.mediaType"),
            check.digest(document["digest"], f"{where}.digest"),
            check.integer(document["size"], f"{where}.size", 0, check.INT64_MAX),
            urls=_urls(document, where),
            annotations=_annotations(document, where),
            data=check.string(document["data"], f"{where}.data") if "data" in document else None,
            artifact_type=(
                check.media_type(document["artifactType"], f"{where}.artifactType")
                if "artifactType" in document
                else ""
            ),
            platform=(
                Platform.from_json(document["platform"], f"{where}.platform")
                if "platform" in document
                else None
            ),
            extra=check.extras(document, _KNOWN),
        )
        if descriptor.data is not None:
            _check_data(descriptor, where)
        return descriptor

    def to_json(self) -> dict[str, Any]:
        document: dict[str, Any] = {
            "mediaType": self.media_type,
            "digest": str(self.digest),
            "size": self.size,
        }
        if self.urls:
            document["urls"] = list(self.urls)
        if self.annotations:
            document["annotations"] = dict(self.annotations)
        if self.data is not None:
            document["data"] = self.data
        if self.platform is not None:
            document["platform"] = self.platform.to_json()
        if self.artifact_type:
            document["artifactType"] = self.artifact_type
        document.update(self.extra)
        return document

    def embedded(self) -> bytes | None:
        """The embedded content (`data`), already checked against size and digest."""
        return None if self.data is None else base64.b64decode(self.data)


def _urls(document: Mapping[str, Any], where: str) -> tuple[str, ...]:
    if "urls" not in document:
        return ()
    items = check.array(document["urls"], f"{where}.urls")
    return tuple(check.uri(item, f"{where}.urls[{i}]") for i, item in enumerate(items))


def _annotations(document: Mapping[str, Any], where: str) -> dict[str, str]:
    if "annotations" not in document:
        return {}
    return check.string_map(document["annotations"], f"{where}.annotations")


def _check_data(descriptor: Descriptor, where: str) -> None:
    try:
        content = base64.b64decode(descriptor.data or "", validate=True)
    except binascii.Error:
        raise field_error(f"{where}.data", "is not valid base64 (RFC 4648)") from None
    if len(content) != descriptor.size:
        raise field_error(
            f"{where}.data", f"holds {len(content)} bytes but size says {descriptor.size}"
        )
    digest = descriptor.digest
    if digest.algorithm in REGISTERED and not digest.verify(content):
        raise field_error(f"{where}.data", f"does not match the digest {digest}")


# The descriptor of `{}`, for artifacts without config or layers (the spec's guidance).
EMPTY_JSON = Descriptor(
    media_types.OCI_EMPTY,
    Digest.parse("sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a"),
    2,
    data="e30=",
)
