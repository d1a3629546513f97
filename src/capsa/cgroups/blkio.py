"""Block I/O: `linux.resources.blockIO`, the v1 blkio controller or the v2 io controller.

v1 files: blkio.weight / blkio.weight_device (CFQ) or blkio.bfq.weight /
blkio.bfq.weight_device (BFQ), blkio.leaf_weight[_device], blkio.throttle.*_device.
v2 files: io.bfq.weight if the BFQ scheduler offers it, else io.weight (converted from
the v1 range [10, 1000] to [1, 10000] as runc does); io.max "MAJ:MIN rbps=N ...".

As in runc, a weight of 0 means "not set"; a throttle rate of 0 removes that limit.
"""

from __future__ import annotations

from capsa._record import Record
from capsa.cgroups import _fields as f
from capsa.cgroups._controller import Controller
from capsa.cgroups._files import CgroupFiles
from capsa.errors import Unavailable, field_error

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence
    from typing import Any, ClassVar

FIELD = "linux.resources.blockIO"

# spec name -> (v1 file, v2 io.max key)
THROTTLES = {
    "throttleReadBpsDevice": ("blkio.throttle.read_bps_device", "rbps"),
    "throttleWriteBpsDevice": ("blkio.throttle.write_bps_device", "wbps"),
    "throttleReadIOPSDevice": ("blkio.throttle.read_iops_device", "riops"),
    "throttleWriteIOPSDevice": ("blkio.throttle.write_iops_device", "wiops"),
}


def weight_to_io_weight(weight: int) -> int:
    """blkio weight [10, 1000] to io.weight [1, 10000] (runc's formula)."""
    weight = min(max(weight, 10), 1000)
    return 1 + (weight - 10) * 9999 // 990


class WeightDevice(Record):
    __slots__ = ("leaf_weight", "major", "minor", "weight")

    def __init__(self, major: int, minor: int, weight: int | None, leaf_weight: int | None) -> None:
        self.major = major
        self.minor = minor
        self.weight = weight
        self.leaf_weight = leaf_weight


class Throttle(Record):
    __slots__ = ("kind", "major", "minor", "rate")

    def __init__(self, kind: str, major: int, minor: int, rate: int) -> None:
        self.kind = kind  # a key of THROTTLES
        self.major = major
        self.minor = minor
        self.rate = rate


class BlkioSettings(Record):
    __slots__ = ("leaf_weight", "throttles", "weight", "weight_devices")

    def __init__(
        self,
        weight: int | None = None,
        leaf_weight: int | None = None,
        weight_devices: tuple[WeightDevice, ...] = (),
        throttles: tuple[Throttle, ...] = (),
    ) -> None:
        self.weight = weight
        self.leaf_weight = leaf_weight
        self.weight_devices = weight_devices
        self.throttles = throttles


def _weight(obj: Mapping[str, Any], key: str, field: str) -> int | None:
    value = f.integer(obj, key, field, f.UINT16)
    return None if value == 0 else value


def _device(item: Any, field: str) -> tuple[Mapping[str, Any], int, int]:
    obj = f.entry(item, field)
    major = f.integer(obj, "major", f"{field}.major", (0, 2**32 - 1), required=True)
    minor = f.integer(obj, "minor", f"{field}.minor", (0, 2**32 - 1), required=True)
    assert major is not None and minor is not None
    return obj, major, minor


def _entries(block: Mapping[str, Any], key: str) -> Sequence[Any]:
    return f.array(block, key, f"{FIELD}.{key}") or ()


class BlkioController(Controller[BlkioSettings]):
    name = "blkio"
    field = FIELD
    v1: ClassVar[str | None] = "blkio"
    v2: ClassVar[str | None] = "io"

    def parse(self, resources: Mapping[str, Any]) -> BlkioSettings | None:
        block = f.section(resources, "blockIO")
        if block is None:
            return None
        devices: list[WeightDevice] = []
        for i, item in enumerate(_entries(block, "weightDevice")):
            field = f"{FIELD}.weightDevice[{i}]"
            obj, major, minor = _device(item, field)
            weight = _weight(obj, "weight", f"{field}.weight")
            leaf = _weight(obj, "leafWeight", f"{field}.leafWeight")
            if weight is None and leaf is None:
                raise field_error(field, "needs weight or leafWeight")
            devices.append(WeightDevice(major, minor, weight, leaf))
        throttles: list[Throttle] = []
        for kind in THROTTLES:
            for i, item in enumerate(_entries(block, kind)):
                field = f"{FIELD}.{kind}[{i}]"
                obj, major, minor = _device(item, field)
                rate = f.integer(obj, "rate", f"{field}.rate", f.UINT64, required=True)
                assert rate is not None
                throttles.append(Throttle(kind, major, minor, rate))
        s = BlkioSettings(
            weight=_weight(block, "weight", f"{FIELD}.weight"),
            leaf_weight=_weight(block, "leafWeight", f"{FIELD}.leafWeight"),
            weight_devices=tuple(devices),
            throttles=tuple(throttles),
        )
        return None if s == BlkioSettings() else s

    def precheck(self, version: int, s: BlkioSettings) -> None:
        if version == 2 and (
            s.leaf_weight is not None or any(d.leaf_weight is not None for d in s.weight_devices)
        ):
            raise Unavailable(f"cannot set {FIELD} leafWeight: cgroup v2 has no leaf weights")

    def apply_v1(self, files: CgroupFiles, directory: str, s: BlkioSettings) -> None:
        weight_file, device_file = "blkio.weight", "blkio.weight_device"
        wants_weight = s.weight is not None or any(d.weight is not None for d in s.weight_devices)
        if wants_weight:
            if files.exists(directory, "blkio.weight"):
                pass
            elif files.exists(directory, "blkio.bfq.weight"):
                weight_file, device_file = "blkio.bfq.weight", "blkio.bfq.weight_device"
            else:
                raise Unavailable(
                    f"cannot set {FIELD}.weight: no proportional I/O scheduler (CFQ or BFQ) "
                    f"offers weights in {directory}"
                )
            if s.weight is not None:
                files.write(directory, weight_file, str(s.weight), field=f"{FIELD}.weight")
        if s.leaf_weight is not None:
            files.write(
                directory, "blkio.leaf_weight", str(s.leaf_weight), field=f"{FIELD}.leafWeight"
            )
        for i, d in enumerate(s.weight_devices):
            if d.weight is not None:
                files.write(
                    directory,
                    device_file,
                    f"{d.major}:{d.minor} {d.weight}",
                    field=f"{FIELD}.weightDevice[{i}]",
                )
            if d.leaf_weight is not None:
                files.write(
                    directory,
                    "blkio.leaf_weight_device",
                    f"{d.major}:{d.minor} {d.leaf_weight}",
                    field=f"{FIELD}.weightDevice[{i}]",
                )
        for t in s.throttles:
            files.write(
                directory,
                THROTTLES[t.kind][0],
                f"{t.major}:{t.minor} {t.rate}",
                field=f"{FIELD}.{t.kind}",
            )

    def apply_v2(self, files: CgroupFiles, directory: str, s: BlkioSettings) -> None:
        bfq = files.exists(directory, "io.bfq.weight")
        if s.weight is not None:
            if bfq:
                files.write(directory, "io.bfq.weight", str(s.weight), field=f"{FIELD}.weight")
            else:
                files.write(
                    directory,
                    "io.weight",
                    str(weight_to_io_weight(s.weight)),
                    field=f"{FIELD}.weight",
                )
        for i, d in enumerate(s.weight_devices):
            if d.weight is None:
                continue
            name, value = (
                ("io.bfq.weight", d.weight) if bfq else ("io.weight", weight_to_io_weight(d.weight))
            )
            files.write(
                directory, name, f"{d.major}:{d.minor} {value}", field=f"{FIELD}.weightDevice[{i}]"
            )
        for t in s.throttles:
            rate = str(t.rate) if t.rate else "max"
            files.write(
                directory,
                "io.max",
                f"{t.major}:{t.minor} {THROTTLES[t.kind][1]}={rate}",
                field=f"{FIELD}.{t.kind}",
            )


CONTROLLER = BlkioController()
