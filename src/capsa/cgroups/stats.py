"""Resource usage of a container's cgroup, the same fields on v1 and v2.

Byte counts are bytes and times are nanoseconds. A field is None when the host does not
report it (no such controller or file); a limit is None when there is no limit.
"""

from __future__ import annotations

from capsa._record import Record

# The fields, in the order of as_dict().
FIELDS = (
    "memory_usage",
    "memory_limit",
    "memory_max_usage",  # v1 max_usage_in_bytes, v2 memory.peak
    "memory_cache",  # page cache (v1 total_cache, v2 file)
    "swap_usage",  # swap alone, not memory+swap
    "swap_limit",  # swap alone, not memory+swap
    "oom_kills",  # processes killed by the OOM killer
    "cpu_usage_total",
    "cpu_usage_user",
    "cpu_usage_system",
    "cpu_periods",  # CFS enforcement periods elapsed
    "cpu_throttled_periods",
    "cpu_throttled_time",
    "pids_current",
    "pids_limit",
)


class CgroupStats(Record):
    """A plain class rather than a NamedTuple: typing is too slow to import on the path
    of a container start."""

    __slots__ = FIELDS

    def __init__(
        self,
        memory_usage: int | None = None,
        memory_limit: int | None = None,
        memory_max_usage: int | None = None,
        memory_cache: int | None = None,
        swap_usage: int | None = None,
        swap_limit: int | None = None,
        oom_kills: int | None = None,
        cpu_usage_total: int | None = None,
        cpu_usage_user: int | None = None,
        cpu_usage_system: int | None = None,
        cpu_periods: int | None = None,
        cpu_throttled_periods: int | None = None,
        cpu_throttled_time: int | None = None,
        pids_current: int | None = None,
        pids_limit: int | None = None,
    ) -> None:
        self.memory_usage = memory_usage
        self.memory_limit = memory_limit
        self.memory_max_usage = memory_max_usage
        self.memory_cache = memory_cache
        self.swap_usage = swap_usage
        self.swap_limit = swap_limit
        self.oom_kills = oom_kills
        self.cpu_usage_total = cpu_usage_total
        self.cpu_usage_user = cpu_usage_user
        self.cpu_usage_system = cpu_usage_system
        self.cpu_periods = cpu_periods
        self.cpu_throttled_periods = cpu_throttled_periods
        self.cpu_throttled_time = cpu_throttled_time
        self.pids_current = pids_current
        self.pids_limit = pids_limit

    def as_dict(self) -> dict[str, int | None]:
        return {name: getattr(self, name) for name in FIELDS}
