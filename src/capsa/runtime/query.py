"""Read-only verbs: `state`, `list`, `ps`."""

from __future__ import annotations

from capsa.runtime.container import Container
from capsa.runtime.state import StateStore

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any


def container_state(store: StateStore, container_id: str) -> dict[str, Any]:
    return Container.load(store, container_id).oci_state()


def list_containers(store: StateStore) -> list[dict[str, Any]]:
    result = []
    for container_id in store.ids():
        try:
            result.append(Container.load(store, container_id).oci_state())
        except FileNotFoundError:
            continue  # deleted while we listed
    return result


def container_pids(store: StateStore, container_id: str) -> list[int]:
    container = Container.load(store, container_id)
    return sorted(container.cgroup().pids())
