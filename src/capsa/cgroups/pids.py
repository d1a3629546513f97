"""The pids controller: `linux.resources.pids.limit` to pids.max (same file on v1 and v2).

-1 and 0 both mean no limit ("max").
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

FIELD = "linux.resources.pids"


class PidsController(Controller[int]):
    """Settings: the limit, -1 for none."""

    name = "pids"
    field = FIELD
    v1: ClassVar[str | None] = "pids"
    v2: ClassVar[str | None] = "pids"

    def parse(self, resources: Mapping[str, Any]) -> int | None:
        pids = f.section(resources, "pids")
        if pids is None:
            return None
        limit = f.integer(pids, "limit", f"{FIELD}.limit", required=True)
        assert limit is not None
        if limit < -1:
            raise field_error(f"{FIELD}.limit", f"must be -1 (no limit) or positive, not {limit}")
        return -1 if limit == 0 else limit

    def apply_v1(self, files: CgroupFiles, directory: str, limit: int) -> None:
        self.apply_v2(files, directory, limit)

    def apply_v2(self, files: CgroupFiles, directory: str, limit: int) -> None:
        files.write(directory, "pids.max", f.format_limit(limit), field=f"{FIELD}.limit")


CONTROLLER = PidsController()


def stats(files: CgroupFiles, directory: str) -> dict[str, int | None]:
    current = files.read_optional(directory, "pids.current")
    limit = files.read_optional(directory, "pids.max")
    return {
        "pids_current": None if current is None else int(current),
        "pids_limit": None if limit is None or limit == "max" else int(limit),
    }
