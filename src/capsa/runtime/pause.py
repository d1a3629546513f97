"""`pause` and `resume`: freeze and thaw every process of a container."""

from __future__ import annotations

from capsa.errors import Conflict
from capsa.runtime.container import PAUSED, RUNNING, Container
from capsa.runtime.state import StateStore


def pause_container(store: StateStore, container_id: str) -> None:
    with store.locked(container_id):
        container = Container.load(store, container_id)
        status = container.status()
        if status != RUNNING:
            raise Conflict(f"cannot pause container {container_id!r}: it is {status}")
        container.cgroup().freeze()


def resume_container(store: StateStore, container_id: str) -> None:
    with store.locked(container_id):
        container = Container.load(store, container_id)
        status = container.status()
        if status != PAUSED:
            raise Conflict(f"cannot resume container {container_id!r}: it is {status}, not paused")
        container.cgroup().thaw()
