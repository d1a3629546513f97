"""`linux.resources` as a whole: every controller's settings parsed (so every field is
validated) before any of them is written, in the order they are written.

Only the controller modules a config mentions are imported.
"""

from __future__ import annotations

import sys
from _collections_abc import Mapping  # what collections.abc exports, already loaded

from capsa.errors import field_error

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from capsa.cgroups._controller import Controller
    from capsa.cgroups.unified import UnifiedSetting

# (resources key, module, controller object) in write order: cpuset before anything a
# task could trip over, memory before cpu (as runc), devices near the end. `unified` is
# written after all of these so that its raw values win.
CONTROLLERS = (
    ("cpu", "cpuset", "CONTROLLER"),
    ("memory", "memory", "CONTROLLER"),
    ("cpu", "cpu", "CONTROLLER"),
    ("pids", "pids", "CONTROLLER"),
    ("blockIO", "blkio", "CONTROLLER"),
    ("hugepageLimits", "hugetlb", "CONTROLLER"),
    ("network", "net", "NET_CLS"),
    ("network", "net", "NET_PRIO"),
    ("rdma", "rdma", "CONTROLLER"),
    ("devices", "devices", "CONTROLLER"),
)


def controller(module: str, name: str) -> Controller[Any]:
    qualified = f"capsa.cgroups.{module}"
    __import__(qualified)  # importlib itself is not loaded on a container start
    value: Controller[Any] = getattr(sys.modules[qualified], name)
    return value


class ParsedResources:
    __slots__ = ("settings", "unified")

    def __init__(
        self,
        settings: tuple[tuple[Controller[Any], Any], ...],
        unified: tuple[UnifiedSetting, ...],
    ) -> None:
        self.settings = settings  # only the controllers asked for something, in write order
        self.unified = unified

    def __bool__(self) -> bool:
        return bool(self.settings or self.unified)


def parse_resources(resources: Mapping[str, Any] | None) -> ParsedResources:
    if resources is None:
        return ParsedResources((), ())
    if not isinstance(resources, Mapping):
        raise field_error("linux.resources", "must be an object")
    settings = []
    for key, module, name in CONTROLLERS:
        if resources.get(key) is None:
            continue
        ctl = controller(module, name)
        parsed = ctl.parse(resources)
        if parsed is not None:
            settings.append((ctl, parsed))
    unified_settings: tuple[UnifiedSetting, ...] = ()
    if resources.get("unified") is not None:
        from capsa.cgroups import unified

        unified_settings = unified.parse(resources)
    return ParsedResources(tuple(settings), unified_settings)
