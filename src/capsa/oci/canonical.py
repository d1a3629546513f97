"""The JSON bytes capsa writes for image documents, and the strict reading of them.

A digest always names the exact bytes stored: capsa never re-serialises a manifest,
index or config it pulled or loaded to compute or check a digest, because any other
serialiser (Go's, another key order, other whitespace) gives other bytes. canonical_bytes()
is only for documents capsa creates itself (builds, commits, conversions); it keeps the
keys in insertion order (the order to_json() gives, which is the image-spec's), writes no
whitespace and writes non-ASCII text as UTF-8, as Go's encoding/json does.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, Protocol

from capsa.errors import InvalidArgument


class JSONDocument(Protocol):
    def to_json(self) -> dict[str, Any]: ...


def canonical_bytes(document: Mapping[str, Any] | JSONDocument) -> bytes:
    """Compact UTF-8 JSON in insertion order: the bytes to store and to digest."""
    value = document if isinstance(document, Mapping) else document.to_json()
    try:
        text = json.dumps(value, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
        return text.encode("utf-8")
    except (TypeError, ValueError) as exc:  # UnicodeEncodeError is a ValueError
        raise InvalidArgument(f"cannot write the document as JSON: {exc}") from None


def load_json(data: bytes, where: str = "document") -> dict[str, Any]:
    """Parse a stored image document: UTF-8 JSON whose top level is an object.

    Duplicate keys are refused: two readers picking different values for the same key is
    how a manifest says one thing to a verifier and another to a runtime.
    """
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InvalidArgument(
            f"invalid {where}: not UTF-8 ({exc.reason} at byte {exc.start})"
        ) from None
    try:
        value = json.loads(text, object_pairs_hook=_no_duplicates, parse_constant=_no_constant)
    except json.JSONDecodeError as exc:
        raise InvalidArgument(
            f"invalid {where}: not JSON ({exc.msg} at line {exc.lineno} column {exc.colno})"
        ) from None
    except _Refused as exc:
        raise InvalidArgument(f"invalid {where}: {exc}") from None
    if not isinstance(value, dict):
        raise InvalidArgument(f"invalid {where}: the top level must be a JSON object")
    return value


class _Refused(Exception):
    pass


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise _Refused(f"the key {key!r} appears twice in one object")
        result[key] = value
    return result


def _no_constant(name: str) -> Any:
    raise _Refused(f"{name} is not a JSON number")
