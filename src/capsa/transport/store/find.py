"""Finding an image in the store by what a user typed: a name (`busybox`, normalised as
Docker does), a full image ID or a unique prefix of one; and, for `--platform`, the image
of that platform among those of the multi-platform index a name names."""

from __future__ import annotations

from typing import TYPE_CHECKING

from capsa.errors import InvalidArgument, NotFound
from capsa.oci.reference import is_full_id, looks_like_id, parse_reference

if TYPE_CHECKING:
    from capsa.oci.platform import Platform
    from capsa.store.metadata import ImageRecord, Metadata


def normalize_name(text: str) -> str:
    """`busybox` -> `docker.io/library/busybox:latest`; InvalidArgument if malformed."""
    return str(parse_reference(text))


def _local_names(text: str) -> list[str]:
    """A short name (`busybox`, `team/app:1`) may also name a local image, as Podman
    looks it up: `localhost/busybox:latest`."""
    first = text.split("/", 1)[0]
    if "/" in text and ("." in first or ":" in first or first == "localhost"):
        return []
    try:
        return [normalize_name(f"localhost/{text}")]
    except InvalidArgument:
        return []


def find_image(
    metadata: Metadata, text: str, platform: Platform | None = None
) -> tuple[ImageRecord, str | None]:
    """The image `text` names and the normalised name it was found by (None when found
    by ID). Names win over ID prefixes, as in Docker; a full ID is never a name. With
    `platform`, the image for that platform (NotFound when there is none)."""
    record, name = _find(metadata, text)
    if platform is None:
        return record, name
    return _for_platform(metadata, record, name, text, platform), name


def _find(metadata: Metadata, text: str) -> tuple[ImageRecord, str | None]:
    if not text:
        raise InvalidArgument("no image given")
    name: str | None = None
    if not is_full_id(text):
        try:
            name = normalize_name(text)
        except InvalidArgument:
            if not looks_like_id(text, 3):
                raise
        if name is not None:
            for candidate in (name, *_local_names(text)):
                try:
                    return metadata.resolve_image(candidate), candidate
                except NotFound:
                    pass
    if looks_like_id(text, 3) or text.startswith("sha256:"):
        try:
            return metadata.resolve_image(text), None
        except NotFound:
            pass
    raise NotFound(f"no such image: {text}", hint="see capsa images")


def platforms_of(
    metadata: Metadata, record: ImageRecord, name: str | None
) -> list[tuple[str, str]]:
    """(platform, image ID) of every image a name (or an ID) gives: the members of the
    index the name names, else the image itself."""
    index = metadata.get_name(name).index_digest if name is not None else None
    if index is None:
        return [(record.platform, record.id)]
    return [(member.platform, member.image_id) for member in metadata.index_members(index)]


def _for_platform(
    metadata: Metadata, record: ImageRecord, name: str | None, text: str, platform: Platform
) -> ImageRecord:
    from capsa.oci import media_types as mt
    from capsa.oci.descriptor import Descriptor
    from capsa.oci.digest import Digest
    from capsa.oci.manifest import Index
    from capsa.oci.platform import choose, parse_platform

    choices = platforms_of(metadata, record, name)
    entries = tuple(
        Descriptor(
            mt.OCI_MANIFEST,
            Digest.parse(image_id),
            1,
            platform=parse_platform(listed) if listed else None,
        )
        for listed, image_id in choices
    )
    try:
        chosen = choose(Index(entries), platform.normalize())
    except NotFound:
        listed = ", ".join(sorted({p for p, _ in choices if p})) or "no platform"
        raise NotFound(
            f"image {text} was found but has no image for {platform.normalize()}",
            hint=f"it has {listed}; leave out --platform or choose one of them",
        ) from None
    return metadata.get_image(str(chosen.digest))
