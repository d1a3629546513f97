"""The hugetlb controller: `linux.resources.hugepageLimits`.

v1 files: hugetlb.<size>.limit_in_bytes (and hugetlb.<size>.rsvd.limit_in_bytes).
v2 files: hugetlb.<size>.max (and hugetlb.<size>.rsvd.max).
The reservation file is written too when the kernel has it, as runc does: the spec's
limit is a reservation limit where reservations are accounted, a fault limit otherwise.
On hybrid hosts hugetlb is often bound to the unified hierarchy only.
"""

from __future__ import annotations

from capsa._record import Record
from capsa.cgroups import _fields as f
from capsa.cgroups._controller import Controller
from capsa.cgroups._files import CgroupFiles
from capsa.errors import Unavailable, field_error

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Mapping
    from typing import Any, ClassVar

FIELD = "linux.resources.hugepageLimits"

_UNITS = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30}


def kernel_page_size(text: str, field: str) -> str:
    """The kernel's name for a page size: the largest unit that divides it evenly
    ("2048KB" is "2MB"), as the control files are named."""
    number, unit = text[:-2], text[-2:-1]
    if (
        not text.endswith("B")
        or unit not in _UNITS
        or not (number.isascii() and number.isdigit())
        or number.startswith("0")
    ):
        raise field_error(field, f"must look like 64KB, 2MB or 1GB, not {text!r}")
    size = int(number) * _UNITS[unit]
    for unit in ("G", "M", "K"):
        if size % _UNITS[unit] == 0:
            return f"{size // _UNITS[unit]}{unit}B"
    raise AssertionError("unreachable: every size is a whole number of KB")


class HugepageLimit(Record):
    __slots__ = ("limit", "page_size")

    def __init__(self, page_size: str, limit: int) -> None:
        self.page_size = page_size  # the kernel's spelling
        self.limit = limit


HugetlbSettings = tuple[HugepageLimit, ...]


class HugetlbController(Controller[HugetlbSettings]):
    name = "hugetlb"
    field = FIELD
    v1: ClassVar[str | None] = "hugetlb"
    v2: ClassVar[str | None] = "hugetlb"

    def parse(self, resources: Mapping[str, Any]) -> HugetlbSettings | None:
        items = f.array(resources, "hugepageLimits", FIELD)
        if not items:
            return None
        limits = []
        for i, item in enumerate(items):
            field = f"{FIELD}[{i}]"
            obj = f.entry(item, field)
            size = f.string(obj, "pageSize", f"{field}.pageSize", required=True)
            assert size is not None
            limit = f.integer(obj, "limit", f"{field}.limit", f.UINT64, required=True)
            assert limit is not None
            limits.append(HugepageLimit(kernel_page_size(size, f"{field}.pageSize"), limit))
        return tuple(limits)

    def apply_v1(self, files: CgroupFiles, directory: str, s: HugetlbSettings) -> None:
        self._write(files, directory, s, "limit_in_bytes", "rsvd.limit_in_bytes")

    def apply_v2(self, files: CgroupFiles, directory: str, s: HugetlbSettings) -> None:
        self._write(files, directory, s, "max", "rsvd.max")

    @staticmethod
    def _write(
        files: CgroupFiles, directory: str, s: HugetlbSettings, limit_name: str, rsvd_name: str
    ) -> None:
        for i, item in enumerate(s):
            field = f"{FIELD}[{i}]"
            name = f"hugetlb.{item.page_size}.{limit_name}"
            if not files.exists(directory, name):
                raise Unavailable(
                    f"cannot set {field}: this host has no {item.page_size} huge pages "
                    f"({directory}/{name} is missing)"
                )
            rsvd = f"hugetlb.{item.page_size}.{rsvd_name}"
            if files.exists(directory, rsvd):
                files.write(directory, rsvd, str(item.limit), field=f"{field}.limit")
            files.write(directory, name, str(item.limit), field=f"{field}.limit")


CONTROLLER = HugetlbController()
