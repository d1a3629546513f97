"""The `CgroupManager` protocol the runtime programs against, and `Mode`.

Only for type checking: code on the path of a container start imports this module under
TYPE_CHECKING alone, since defining a Protocol needs `typing` at run time. (Importing
`CgroupManager` or `Mode` from `capsa.cgroups` at run time still works, at that price.)
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal, Protocol

from capsa.cgroups.fs import SIGKILL

if TYPE_CHECKING:
    from collections.abc import Mapping

    from capsa.cgroups.stats import CgroupStats

Mode = Literal["v1", "v2", "hybrid"]


class CgroupManager(Protocol):
    """A container's cgroups, whatever the host's cgroup layout."""

    @property
    def mode(self) -> Mode:
        """ "v1", "v2" or "hybrid": which hierarchies this container uses."""
        ...

    def create(self, *, v1: bool = True, unified: bool = True) -> None:
        """Make the container's directories (idempotent): those of the v1 hierarchies,
        of the unified one, or (by default) both."""
        ...

    def apply(self, resources: Mapping[str, Any] | None) -> None:
        """Validate and write `linux.resources` (the raw JSON object)."""
        ...

    def update(self, resources: Mapping[str, Any] | None) -> None:
        """Change the limits of a running container."""
        ...

    def add_process(self, pid: int, *, v1: bool = True) -> None:
        """Move a process into every hierarchy of the container (v1=False: into the
        unified one alone)."""
        ...

    def enter_v1(self) -> None:
        """Move the calling thread (of a single-threaded caller) into every v1 hierarchy
        without waiting for the kernel's threadgroup lock."""
        ...

    def pids(self) -> list[int]:
        """Every process in the container's cgroup, recursively."""
        ...

    def freeze(self) -> None:
        """Stop every process; returns once they all are."""
        ...

    def thaw(self) -> None: ...

    def is_frozen(self) -> bool: ...

    def stats(self) -> CgroupStats: ...

    def oom_kills(self) -> int | None:
        """How many processes the OOM killer took in this cgroup (one file read)."""
        ...

    def kill_all(self, signal: int = SIGKILL) -> None:
        """Send a signal to every process in the container's cgroup."""
        ...

    def destroy(self) -> None:
        """Remove the container's directories; fine if already gone."""
        ...

    def exists(self) -> bool: ...

    def paths(self) -> dict[str, str]:
        """Controller (or "name=systemd", or "unified" for v2) -> absolute directory, to
        save in the container's state and give to `load_manager` later."""
        ...
