"""`update`: change a running container's resource limits."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping

from capsa.errors import Conflict, InvalidArgument
from capsa.runtime.container import STOPPED, Container
from capsa.runtime.state import StateStore

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

_UNITS = {"": 1, "b": 1, "k": 1024, "m": 1024**2, "g": 1024**3, "t": 1024**4, "p": 1024**5}
_SIZE = re.compile(r"^\s*(-?\d+(?:\.\d+)?)\s*([kmgtp]?)(?:i?b)?\s*$", re.IGNORECASE)


def parse_bytes(value: str, what: str) -> int:
    """`512m`, `1G`, `1048576`, `-1` -> bytes (binary units, as Docker's RAMInBytes)."""
    match = _SIZE.match(value)
    if not match:
        raise InvalidArgument(
            f"invalid {what} {value!r}", hint="use a number with an optional unit: 512m, 1g"
        )
    number, unit = match.groups()
    return int(float(number) * _UNITS[unit.lower()])


def merge(base: dict[str, Any], extra: Mapping[str, Any]) -> dict[str, Any]:
    """Deep-merge extra into base (dicts merge, everything else replaces)."""
    for key, value in extra.items():
        if isinstance(value, Mapping) and isinstance(base.get(key), dict):
            merge(base[key], value)
        else:
            base[key] = value
    return base


def read_resources(text: str, source: str) -> dict[str, Any]:
    try:
        resources = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InvalidArgument(
            f"{source} is not valid JSON: {exc.msg} at line {exc.lineno}"
        ) from None
    if not isinstance(resources, dict):
        raise InvalidArgument(f"{source} must hold a JSON object of linux.resources")
    return resources


def update_container(store: StateStore, container_id: str, resources: dict[str, Any]) -> None:
    with store.locked(container_id):
        container = Container.load(store, container_id)
        if container.status() == STOPPED:
            raise Conflict(f"cannot update container {container_id!r}: it is stopped")
        container.cgroup().update(resources)
        config = container.config()
        linux = config.setdefault("linux", {})
        linux["resources"] = merge(linux.get("resources", {}), resources)
        store.save_config(container_id, config)
