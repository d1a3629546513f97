"""capsa.cgroups: a container's cgroups on v1, v2 and hybrid hosts, behind one protocol.

    manager = create_manager(config["linux"].get("cgroupsPath"), container_id)
    manager.create()
    manager.apply(config["linux"].get("resources"))
    manager.add_process(pid)
    state["cgroup_paths"] = manager.paths()      # later: load_manager(state["cgroup_paths"])

Names are loaded on first use so that importing the package costs nothing.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from capsa.cgroups.fs import FsManager
    from capsa.cgroups.layout import CgroupLayout, Mode, detect_mode
    from capsa.cgroups.manager import CgroupManager, create_manager, load_manager
    from capsa.cgroups.stats import CgroupStats

__all__ = [
    "CgroupLayout",
    "CgroupManager",
    "CgroupStats",
    "FsManager",
    "Mode",
    "create_manager",
    "detect_mode",
    "load_manager",
]

_WHERE = {
    "CgroupLayout": "layout",
    "Mode": "layout",
    "detect_mode": "layout",
    "CgroupManager": "manager",
    "create_manager": "manager",
    "load_manager": "manager",
    "FsManager": "fs",
    "CgroupStats": "stats",
}


def __getattr__(name: str) -> Any:
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module 'capsa.cgroups' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(f"capsa.cgroups.{module}"), name)
    globals()[name] = value
    return value
