"""Resource usage of a container's cgroup, the same fields on v1 and v2.

Byte counts are bytes and times are nanoseconds. A field is None when the host does not
report it (no such controller or file); a limit is None when there is no limit.
"""

from __future__ import annotations

from typing import NamedTuple


class CgroupStats(NamedTuple):
    memory_usage: int | None = None
    memory_limit: int | None = None
    memory_max_usage: int | None = None  # v1 max_usage_in_bytes, v2 memory.peak
    memory_cache: int | None = None  # page cache (v1 total_cache, v2 file)
    swap_usage: int | None = None  # swap alone, not memory+swap
    swap_limit: int | None = None  # swap alone, not memory+swap
    oom_kills: int | None = None  # processes killed by the OOM killer
    cpu_usage_total: int | None = None
    cpu_usage_user: int | None = None
    cpu_usage_system: int | None = None
    cpu_periods: int | None = None  # CFS enforcement periods elapsed
    cpu_throttled_periods: int | None = None
    cpu_throttled_time: int | None = None
    pids_current: int | None = None
    pids_limit: int | None = None

    def as_dict(self) -> dict[str, int | None]:
        return self._asdict()
