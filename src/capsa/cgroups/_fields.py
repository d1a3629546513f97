"""Typed reads from the raw `linux.resources` JSON dict, each error naming its field.

JSON `null` counts as absent, as it does for Go runtimes. Booleans are never accepted
where an integer is expected (in Python `True` is an `int`).
"""

from __future__ import annotations

# collections.abc re-exports these ABCs from _collections_abc, which the interpreter has
# loaded already (os needs it); importing collections.abc would load all of collections.
from _collections_abc import Mapping

from capsa.errors import field_error

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Sequence
    from typing import Any

PREFIX = "linux.resources"

INT64 = (-(2**63), 2**63 - 1)
UINT64 = (0, 2**64 - 1)
UINT32 = (0, 2**32 - 1)
UINT16 = (0, 2**16 - 1)


def join(parent: str, key: str) -> str:
    return f"{parent}.{key}"


def section(resources: Mapping[str, Any], key: str) -> Mapping[str, Any] | None:
    value = resources.get(key)
    if value is None:
        return None
    if not isinstance(value, Mapping):
        raise field_error(join(PREFIX, key), "must be an object")
    return value


def array(obj: Mapping[str, Any], key: str, field: str) -> Sequence[Any] | None:
    value = obj.get(key)
    if value is None:
        return None
    if not isinstance(value, list | tuple):
        raise field_error(field, "must be an array")
    return value


def entry(value: Any, field: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise field_error(field, "must be an object")
    return value


def integer(
    obj: Mapping[str, Any],
    key: str,
    field: str,
    bounds: tuple[int, int] = INT64,
    *,
    required: bool = False,
) -> int | None:
    value = obj.get(key)
    if value is None:
        if required:
            raise field_error(field, "is required")
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise field_error(field, "must be an integer")
    low, high = bounds
    if not low <= value <= high:
        raise field_error(field, f"must be between {low} and {high}, not {value}")
    return value


def boolean(obj: Mapping[str, Any], key: str, field: str, *, required: bool = False) -> bool | None:
    value = obj.get(key)
    if value is None:
        if required:
            raise field_error(field, "is required")
        return None
    if not isinstance(value, bool):
        raise field_error(field, "must be true or false")
    return value


def string(obj: Mapping[str, Any], key: str, field: str, *, required: bool = False) -> str | None:
    value = obj.get(key)
    if value is None:
        if required:
            raise field_error(field, "is required")
        return None
    if not isinstance(value, str):
        raise field_error(field, "must be a string")
    return value


def limit(obj: Mapping[str, Any], key: str, field: str) -> int | None:
    """A byte or count limit: -1 means unlimited, 0 means not set (as runc reads it)."""
    value = integer(obj, key, field)
    if value is None or value == 0:
        return None
    if value < -1:
        raise field_error(field, f"must be -1 (unlimited) or a positive number, not {value}")
    return value


def format_limit(value: int) -> str:
    """The cgroup v2 spelling of a limit: -1 is `max`."""
    return "max" if value == -1 else str(value)
