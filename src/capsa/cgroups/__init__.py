"""capsa.cgroups: a container's cgroups on v1, v2 and hybrid hosts, behind one protocol.

    manager = create_manager(config["linux"].get("cgroupsPath"), container_id)
    manager.create()
    manager.apply(config["linux"].get("resources"))
    manager.add_process(pid)
    state["cgroup_paths"] = manager.paths()      # later: load_manager(state["cgroup_paths"])

Names are loaded on first use so that importing the package costs nothing. Nothing on the
path of a container start may import typing, dataclasses, re, enum, collections, logging
or their like at run time (tests/unit/test_start_path_imports.py checks it): annotations
only name types, under TYPE_CHECKING (a local False, since `from typing import
TYPE_CHECKING` would itself import typing).
"""

from __future__ import annotations

import sys

TYPE_CHECKING = False
if TYPE_CHECKING:
    from capsa.cgroups.fs import FsManager
    from capsa.cgroups.layout import CgroupLayout, detect_mode
    from capsa.cgroups.manager import create_manager, load_manager
    from capsa.cgroups.protocol import CgroupManager, Mode
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
    "Mode": "protocol",
    "detect_mode": "layout",
    "CgroupManager": "protocol",
    "create_manager": "manager",
    "load_manager": "manager",
    "FsManager": "fs",
    "CgroupStats": "stats",
}


def __getattr__(name: str) -> object:
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module 'capsa.cgroups' has no attribute {name!r}")
    # __import__ rather than importlib.import_module: importlib is not loaded yet.
    qualified = f"capsa.cgroups.{module}"
    __import__(qualified)
    value = getattr(sys.modules[qualified], name)
    globals()[name] = value
    return value
