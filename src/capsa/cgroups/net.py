"""Network: `linux.resources.network`, the v1-only net_cls and net_prio controllers.

v1 files: net_cls.classid, net_prio.ifpriomap ("ifname priority", one write each).
cgroup v2 has neither controller (classify with eBPF instead), so asking for them there
is an error.
"""

from __future__ import annotations

from capsa.cgroups import _fields as f
from capsa.cgroups._controller import Controller
from capsa.cgroups._files import CgroupFiles
from capsa.errors import field_error

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Mapping
    from typing import Any, ClassVar

FIELD = "linux.resources.network"


NetPrioSettings = tuple[tuple[str, int], ...]  # (interface, priority)


class NetClsController(Controller[int]):
    """Settings: the class ID."""

    name = "net_cls"
    field = f"{FIELD}.classID"
    v1: ClassVar[str | None] = "net_cls"
    v2: ClassVar[str | None] = None

    def parse(self, resources: Mapping[str, Any]) -> int | None:
        net = f.section(resources, "network")
        if net is None:
            return None
        class_id = f.integer(net, "classID", f"{FIELD}.classID", f.UINT32)
        return class_id

    def apply_v1(self, files: CgroupFiles, directory: str, class_id: int) -> None:
        files.write(directory, "net_cls.classid", str(class_id), field=self.field)


class NetPrioController(Controller[NetPrioSettings]):
    name = "net_prio"
    field = f"{FIELD}.priorities"
    v1: ClassVar[str | None] = "net_prio"
    v2: ClassVar[str | None] = None

    def parse(self, resources: Mapping[str, Any]) -> NetPrioSettings | None:
        net = f.section(resources, "network")
        if net is None:
            return None
        items = f.array(net, "priorities", self.field)
        if not items:
            return None
        priorities = []
        for i, item in enumerate(items):
            field = f"{self.field}[{i}]"
            obj = f.entry(item, field)
            name = f.string(obj, "name", f"{field}.name", required=True)
            priority = f.integer(obj, "priority", f"{field}.priority", f.UINT32, required=True)
            assert name is not None and priority is not None
            if not name or "/" in name or any(c.isspace() for c in name):
                raise field_error(f"{field}.name", f"is not an interface name: {name!r}")
            priorities.append((name, priority))
        return tuple(priorities)

    def apply_v1(self, files: CgroupFiles, directory: str, s: NetPrioSettings) -> None:
        for i, (name, priority) in enumerate(s):
            files.write(
                directory, "net_prio.ifpriomap", f"{name} {priority}", field=f"{self.field}[{i}]"
            )


NET_CLS = NetClsController()
NET_PRIO = NetPrioController()
