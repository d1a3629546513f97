"""Finding an image in the store by what a user typed: a name (`busybox`, normalised as
Docker does), a full image ID or a unique prefix of one."""

from __future__ import annotations

from typing import TYPE_CHECKING

from capsa.errors import InvalidArgument, NotFound
from capsa.oci.reference import is_full_id, looks_like_id, parse_reference

if TYPE_CHECKING:
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


def find_image(metadata: Metadata, text: str) -> tuple[ImageRecord, str | None]:
    """The image `text` names and the normalised name it was found by (None when found
    by ID). Names win over ID prefixes, as in Docker; a full ID is never a name."""
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
