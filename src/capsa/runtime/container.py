"""A created container as later invocations see it: its state and its live status."""

from __future__ import annotations

import os

from capsa import OCI_RUNTIME_SPEC_VERSION
from capsa.runtime.procinfo import is_alive
from capsa.runtime.state import ContainerState, StateStore

TYPE_CHECKING = False

if TYPE_CHECKING:
    from typing import Any

    from capsa.cgroups import CgroupManager as Manager

CREATED = "created"
RUNNING = "running"
STOPPED = "stopped"
PAUSED = "paused"


class Container:
    __slots__ = ("state", "store")

    def __init__(self, store: StateStore, state: ContainerState) -> None:
        self.store = store
        self.state = state

    @classmethod
    def load(cls, store: StateStore, container_id: str) -> Container:
        return cls(store, store.load(container_id))

    @property
    def id(self) -> str:
        return self.state.id

    def cgroup(self) -> Manager:
        from capsa.runtime import cgroup

        return cgroup.load(self.state.cgroup_paths)

    def alive(self) -> bool:
        return is_alive(self.state.pid, self.state.pid_start_time)

    def status(self) -> str:
        if not self.alive():
            return STOPPED
        if os.path.exists(self.store.exec_fifo(self.id)):
            return CREATED
        try:
            if self.cgroup().is_frozen():
                return PAUSED
        except OSError:
            pass
        return RUNNING

    def config(self) -> dict[str, Any]:
        return self.store.load_config(self.id)

    def oci_state(self) -> dict[str, Any]:
        """The state document of runtime.md, plus runc's extra fields."""
        status = self.status()
        document: dict[str, Any] = {
            "ociVersion": OCI_RUNTIME_SPEC_VERSION,
            "id": self.id,
            "pid": self.state.pid if status != STOPPED else 0,
            "status": status,
            "bundle": self.state.bundle,
            "rootfs": self.state.rootfs,
            "created": self.state.created,
            "owner": self.state.owner,
        }
        if self.state.annotations:
            document["annotations"] = self.state.annotations
        return document
