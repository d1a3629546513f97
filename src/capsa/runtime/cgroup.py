"""The runtime's use of capsa.cgroups: where a container's cgroup goes, and rebuilding
its manager from the paths saved in the state file."""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

from capsa.cgroups import CgroupManager, create_manager, load_manager

Manager = CgroupManager
DEFAULT_PARENT = "capsa-runtime"


def create(linux: Mapping[str, Any], container_id: str, *, rootless: bool) -> CgroupManager:
    manager = create_manager(
        linux.get("cgroupsPath") or None,
        container_id,
        default_parent=DEFAULT_PARENT,
        rootless=rootless,
    )
    manager.create()
    try:
        resources = linux.get("resources")
        if resources:
            manager.apply(resources)
    except BaseException:
        manager.destroy()
        raise
    return manager


def load(paths: Mapping[str, str]) -> CgroupManager:
    return load_manager(dict(paths))


def wait_empty(manager: CgroupManager, timeout: float = 5.0) -> bool:
    """Wait until no process is left in the cgroup (after a SIGKILL to all of them)."""
    deadline = time.monotonic() + timeout
    delay = 0.001
    while manager.pids():
        if time.monotonic() > deadline:
            return False
        time.sleep(delay)
        delay = min(delay * 2, 0.05)
    return True
