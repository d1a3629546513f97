"""The cpuset controller: `linux.resources.cpu.cpus` and `.mems`.

Same file names on v1 and v2: cpuset.cpus, cpuset.mems. On v1 a new cpuset cgroup starts
with both empty and no task can join it until they are filled, so `populate_v1` copies
them down from the nearest ancestor that has them (runc's ensureParent).
"""

from __future__ import annotations

from capsa._record import Record
from capsa.cgroups import _fields as f
from capsa.cgroups._controller import Controller
from capsa.cgroups._files import CgroupFiles
from capsa.cgroups.layout import parent_path
from capsa.errors import field_error

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Mapping
    from typing import Any, ClassVar

FIELD = "linux.resources.cpu"


def parse_list(value: str, field: str) -> str:
    """Validate a kernel list ("0-3,7"); whitespace around it is dropped."""
    text = value.strip()
    for part in text.split(","):
        low, dash, high = part.partition("-")
        if not (low.isascii() and low.isdigit()) or (
            dash and not (high.isascii() and high.isdigit())
        ):
            raise field_error(field, f"must be a list such as '0-3,7', not {value!r}")
        if dash and int(high) < int(low):
            raise field_error(field, f"range {part!r} runs backwards")
    return text


class CpusetSettings(Record):
    __slots__ = ("cpus", "mems")

    def __init__(self, cpus: str | None = None, mems: str | None = None) -> None:
        self.cpus = cpus
        self.mems = mems


class CpusetController(Controller[CpusetSettings]):
    name = "cpuset"
    field = FIELD
    v1: ClassVar[str | None] = "cpuset"
    v2: ClassVar[str | None] = "cpuset"

    def parse(self, resources: Mapping[str, Any]) -> CpusetSettings | None:
        cpu = f.section(resources, "cpu")
        if cpu is None:
            return None
        cpus = f.string(cpu, "cpus", f"{FIELD}.cpus")
        mems = f.string(cpu, "mems", f"{FIELD}.mems")
        # An empty string means "not set", as in runc.
        s = CpusetSettings(
            cpus=parse_list(cpus, f"{FIELD}.cpus") if cpus else None,
            mems=parse_list(mems, f"{FIELD}.mems") if mems else None,
        )
        return None if s == CpusetSettings() else s

    def apply_v1(self, files: CgroupFiles, directory: str, s: CpusetSettings) -> None:
        self._write(files, directory, s)

    def apply_v2(self, files: CgroupFiles, directory: str, s: CpusetSettings) -> None:
        self._write(files, directory, s)

    @staticmethod
    def _write(files: CgroupFiles, directory: str, s: CpusetSettings) -> None:
        # mems first: a task's memory placement must stay valid while cpus change.
        if s.mems is not None:
            files.write(directory, "cpuset.mems", s.mems, field=f"{FIELD}.mems")
        if s.cpus is not None:
            files.write(directory, "cpuset.cpus", s.cpus, field=f"{FIELD}.cpus")


CONTROLLER = CpusetController()


def populate_v1(files: CgroupFiles, directory: str, mountpoint: str) -> None:
    """Fill empty cpuset.cpus/cpuset.mems from `directory` up to the first ancestor that
    has them, writing top-down so that every level is valid when its child is written."""
    missing: list[tuple[str, bool, bool]] = []
    path = directory
    top = mountpoint.rstrip("/") or "/"
    while True:
        cpus = files.read(path, "cpuset.cpus").strip()
        mems = files.read(path, "cpuset.mems").strip()
        if (cpus and mems) or path.rstrip("/") == top or path == "/":
            break
        missing.append((path, not cpus, not mems))
        path = parent_path(path)
    for child, needs_cpus, needs_mems in reversed(missing):
        if needs_mems:
            files.write(child, "cpuset.mems", mems)
        if needs_cpus:
            files.write(child, "cpuset.cpus", cpus)
