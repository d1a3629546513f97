"""The rdma controller: `linux.resources.rdma` to rdma.max (same file on v1 and v2),
one write per device: "mlx5_1 hca_handle=3 hca_object=10000"."""

from __future__ import annotations

from capsa._record import Record
from capsa.cgroups import _fields as f
from capsa.cgroups._controller import Controller
from capsa.cgroups._files import CgroupFiles
from capsa.errors import field_error

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Mapping
    from typing import Any, ClassVar

FIELD = "linux.resources.rdma"


class RdmaLimit(Record):
    __slots__ = ("device", "hca_handles", "hca_objects")

    def __init__(self, device: str, hca_handles: int | None, hca_objects: int | None) -> None:
        self.device = device
        self.hca_handles = hca_handles
        self.hca_objects = hca_objects

    def line(self) -> str:
        parts = [self.device]
        if self.hca_handles is not None:
            parts.append(f"hca_handle={self.hca_handles}")
        if self.hca_objects is not None:
            parts.append(f"hca_object={self.hca_objects}")
        return " ".join(parts)


RdmaSettings = tuple[RdmaLimit, ...]


class RdmaController(Controller[RdmaSettings]):
    name = "rdma"
    field = FIELD
    v1: ClassVar[str | None] = "rdma"
    v2: ClassVar[str | None] = "rdma"

    def parse(self, resources: Mapping[str, Any]) -> RdmaSettings | None:
        rdma = f.section(resources, "rdma")
        if not rdma:
            return None
        limits = []
        for device, item in rdma.items():
            field = f'{FIELD}["{device}"]'
            if not device or any(c.isspace() for c in device) or "/" in device:
                raise field_error(field, "is not an RDMA device name")
            obj = f.entry(item, field)
            handles = f.integer(obj, "hcaHandles", f"{field}.hcaHandles", f.UINT32)
            objects = f.integer(obj, "hcaObjects", f"{field}.hcaObjects", f.UINT32)
            if handles is None and objects is None:
                raise field_error(field, "needs hcaHandles or hcaObjects")
            limits.append(RdmaLimit(device, handles, objects))
        return tuple(limits)

    def apply_v1(self, files: CgroupFiles, directory: str, s: RdmaSettings) -> None:
        self.apply_v2(files, directory, s)

    def apply_v2(self, files: CgroupFiles, directory: str, s: RdmaSettings) -> None:
        for limit in s:
            files.write(directory, "rdma.max", limit.line(), field=f'{FIELD}["{limit.device}"]')


CONTROLLER = RdmaController()
