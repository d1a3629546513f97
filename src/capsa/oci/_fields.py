"""Checks shared by the image-spec documents: each names the field it refuses and why.

A field path reads like the JSON it points into: `manifest.layers[2].digest`.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import TYPE_CHECKING, Any

from capsa.errors import InvalidArgument, field_error
from capsa.oci import media_types
from capsa.oci.digest import Digest

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping

INT64_MAX = 2**63 - 1
# RFC 3339 section 5.6 date-time; ranges are checked by datetime below.
_DATE_TIME = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})[Tt](\d{2}):(\d{2}):(\d{2})(\.\d+)?([Zz]|[+-]\d{2}:\d{2})"
)
# RFC 3986: a URI starts with a scheme; spaces and control characters are never allowed.
_URI = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*:[^\s\x00-\x1f\x7f]*")


def type_name(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, dict):
        return "an object"
    return type(value).__name__


def obj(value: object, field: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise field_error(field, f"must be an object, not {type_name(value)}")
    return value


def string(value: object, field: str) -> str:
    if not isinstance(value, str):
        raise field_error(field, f"must be a string, not {type_name(value)}")
    return value


def nonempty(value: object, field: str) -> str:
    text = string(value, field)
    if not text:
        raise field_error(field, "must not be empty")
    return text


def boolean(value: object, field: str) -> bool:
    if not isinstance(value, bool):
        raise field_error(field, f"must be true or false, not {type_name(value)}")
    return value


def integer(value: object, field: str, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise field_error(field, f"must be an integer, not {type_name(value)}")
    if not low <= value <= high:
        raise field_error(field, f"must be between {low} and {high}, not {value}")
    return value


def array(value: object, field: str) -> list[Any]:
    if not isinstance(value, list):
        raise field_error(field, f"must be an array, not {type_name(value)}")
    return value


def strings(value: object, field: str) -> tuple[str, ...]:
    return tuple(string(item, f"{field}[{i}]") for i, item in enumerate(array(value, field)))


def string_map(value: object, field: str) -> dict[str, str]:
    """A string-to-string map: annotations, labels."""
    return {key: string(item, f"{field}.{key}") for key, item in obj(value, field).items()}


def object_keys(value: object, field: str) -> tuple[str, ...]:
    """A set serialised by Go as map[string]struct{}: keys mapping to `{}`."""
    document = obj(value, field)
    for key, item in document.items():
        if not key:
            raise field_error(field, "keys must not be empty")
        obj(item, f"{field}.{key}")
    return tuple(document)


def media_type(value: object, field: str) -> str:
    text = string(value, field)
    if not media_types.is_valid(text):
        raise field_error(
            field, f"{text!r} is not a media type", hint="use type/subtype as RFC 6838 names them"
        )
    return text


def digest(value: object, field: str) -> Digest:
    text = string(value, field)
    try:
        return Digest.parse(text)
    except InvalidArgument as exc:
        # Digest's reasons never contain ": ", its quoted input may.
        reason = exc.message.rpartition(": ")[2]
        raise field_error(field, f"{text!r} is not a valid digest ({reason})") from None


def date_time(value: object, field: str) -> str:
    """An RFC 3339 timestamp, kept as written (nanoseconds and offsets survive)."""
    text = string(value, field)
    match = _DATE_TIME.fullmatch(text)
    valid = match is not None
    if match is not None:
        year, month, day, hour, minute, second = (int(part) for part in match.groups()[:6])
        try:
            # RFC 3339 allows a leap second (:60); datetime does not.
            datetime(year, month, day, hour, minute, min(second, 59))
        except ValueError:
            valid = False
        valid = valid and second <= 60 and _offset_ok(match.group(8))
    if not valid:
        raise field_error(
            field,
            f"{text!r} is not an RFC 3339 date and time",
            hint="write it like 2024-01-31T12:00:00Z",
        )
    return text


def _offset_ok(offset: str) -> bool:
    if offset in ("Z", "z"):
        return True
    return int(offset[1:3]) < 24 and int(offset[4:6]) < 60


def uri(value: object, field: str) -> str:
    text = string(value, field)
    if not _URI.fullmatch(text):
        raise field_error(field, f"{text!r} is not a URI", hint="write it like https://host/path")
    return text


def schema_version(document: Mapping[str, Any], where: str) -> int:
    if "schemaVersion" not in document:
        raise field_error(f"{where}.schemaVersion", "is missing", hint="image-spec documents use 2")
    version = document["schemaVersion"]
    if version == 1 and not isinstance(version, bool):
        raise schema1_error(where)
    if isinstance(version, bool) or version != 2:
        raise field_error(f"{where}.schemaVersion", f"must be 2, not {version!r}")
    return 2


def schema1_error(where: str) -> InvalidArgument:
    return InvalidArgument(
        f"invalid {where}: Docker image manifest schema 1 is not supported",
        hint="schema 1 is deprecated and insecure; push the image again with a current "
        "Docker, Podman or `skopeo copy --format v2s2`",
    )


def extras(document: Mapping[str, Any], known: Iterable[str]) -> dict[str, Any]:
    """The fields a document carries that this version of capsa does not know, in order;
    they are kept so that re-serialising never drops someone else's data."""
    known_set = frozenset(known)
    return {key: value for key, value in document.items() if key not in known_set}


def optional(document: Mapping[str, Any], key: str, *, null_is_absent: bool = False) -> bool:
    """True if `key` is present (and, where the spec allows null for absent, not null)."""
    if key not in document:
        return False
    return not (null_is_absent and document[key] is None)
