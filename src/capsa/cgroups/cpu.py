"""The cpu controller: `linux.resources.cpu` except cpus/mems (see cpuset.py).

v1 files: cpu.shares, cpu.cfs_quota_us, cpu.cfs_period_us, cpu.cfs_burst_us, cpu.idle,
cpu.rt_runtime_us, cpu.rt_period_us (usage statistics come from the cpuacct hierarchy).
v2 files: cpu.weight (converted from shares as runc does), cpu.max ("quota period"),
cpu.max.burst, cpu.idle. cgroup v2 has no real-time group scheduling knobs.

As in runc, 0 in shares, quota, period, realtimeRuntime and realtimePeriod means "not set".
"""

from __future__ import annotations

import os

from capsa._record import Record
from capsa.cgroups import _fields as f
from capsa.cgroups._controller import Controller
from capsa.cgroups._files import CgroupFiles, flat_keyed
from capsa.errors import InvalidArgument, Unavailable, field_error

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Mapping
    from typing import Any, ClassVar

FIELD = "linux.resources.cpu"

MIN_SHARES = 2
MAX_SHARES = 262144


def shares_to_weight(shares: int) -> int:
    """cgroup v1 cpu.shares [2, 262144] to v2 cpu.weight [1, 10000], runc's formula."""
    shares = min(max(shares, MIN_SHARES), MAX_SHARES)
    return 1 + ((shares - 2) * 9999) // 262142


class CpuSettings(Record):
    __slots__ = (
        "burst",
        "idle",
        "period",
        "quota",
        "realtime_period",
        "realtime_runtime",
        "shares",
    )

    def __init__(
        self,
        *,
        shares: int | None = None,
        quota: int | None = None,
        period: int | None = None,
        burst: int | None = None,
        realtime_runtime: int | None = None,
        realtime_period: int | None = None,
        idle: int | None = None,
    ) -> None:
        self.shares = shares
        self.quota = quota
        self.period = period
        self.burst = burst
        self.realtime_runtime = realtime_runtime
        self.realtime_period = realtime_period
        self.idle = idle


def _nonzero(value: int | None) -> int | None:
    return None if value == 0 else value


class CpuController(Controller[CpuSettings]):
    name = "cpu"
    field = FIELD
    v1: ClassVar[str | None] = "cpu"
    v2: ClassVar[str | None] = "cpu"

    def parse(self, resources: Mapping[str, Any]) -> CpuSettings | None:
        cpu = f.section(resources, "cpu")
        if cpu is None:
            return None
        s = CpuSettings(
            shares=_nonzero(f.integer(cpu, "shares", f"{FIELD}.shares", f.UINT64)),
            quota=f.limit(cpu, "quota", f"{FIELD}.quota"),
            period=_nonzero(f.integer(cpu, "period", f"{FIELD}.period", f.UINT64)),
            burst=f.integer(cpu, "burst", f"{FIELD}.burst", f.UINT64),
            realtime_runtime=f.limit(cpu, "realtimeRuntime", f"{FIELD}.realtimeRuntime"),
            realtime_period=_nonzero(
                f.integer(cpu, "realtimePeriod", f"{FIELD}.realtimePeriod", f.UINT64)
            ),
            idle=f.integer(cpu, "idle", f"{FIELD}.idle"),
        )
        if s.idle is not None and s.idle not in (0, 1):
            raise field_error(f"{FIELD}.idle", f"must be 0 or 1, not {s.idle}")
        if s.burst is not None and s.quota is not None and 0 < s.quota < s.burst:
            raise field_error(f"{FIELD}.burst", f"must not exceed quota ({s.quota})")
        return None if s == CpuSettings() else s

    def precheck(self, version: int, s: CpuSettings) -> None:
        if version == 2 and (s.realtime_runtime is not None or s.realtime_period is not None):
            raise Unavailable(
                f"cannot set {FIELD}.realtimeRuntime/realtimePeriod: cgroup v2 has no "
                "real-time group scheduling"
            )

    def apply_v1(self, files: CgroupFiles, directory: str, s: CpuSettings) -> None:
        if s.idle is not None:
            files.write(directory, "cpu.idle", str(s.idle), field=f"{FIELD}.idle")
        if s.shares is not None and s.idle != 1:  # an idle group has no weight (runc)
            files.write(directory, "cpu.shares", str(s.shares), field=f"{FIELD}.shares")
        burst_pending = s.burst is not None and not _try_write(
            files, directory, "cpu.cfs_burst_us", s.burst, "burst"
        )
        _write_pair(
            files,
            directory,
            ("cpu.cfs_period_us", s.period, "period"),
            ("cpu.cfs_quota_us", s.quota, "quota"),
        )
        if burst_pending:
            files.write(directory, "cpu.cfs_burst_us", str(s.burst), field=f"{FIELD}.burst")
        _write_pair(
            files,
            directory,
            ("cpu.rt_period_us", s.realtime_period, "realtimePeriod"),
            ("cpu.rt_runtime_us", s.realtime_runtime, "realtimeRuntime"),
        )

    def apply_v2(self, files: CgroupFiles, directory: str, s: CpuSettings) -> None:
        if s.idle is not None:
            files.write(directory, "cpu.idle", str(s.idle), field=f"{FIELD}.idle")
        if s.shares is not None and s.idle != 1:
            files.write(
                directory, "cpu.weight", str(shares_to_weight(s.shares)), field=f"{FIELD}.shares"
            )
        burst_pending = s.burst is not None and not _try_write(
            files, directory, "cpu.max.burst", s.burst, "burst"
        )
        if s.quota is not None or s.period is not None:
            if s.quota is None:
                # Only the period changes: keep the quota in force rather than reset it.
                quota = files.read(directory, "cpu.max").split()[0]
            else:
                quota = f.format_limit(s.quota)
            value = quota if s.period is None else f"{quota} {s.period}"
            files.write(directory, "cpu.max", value, field=f"{FIELD}.quota")
        if burst_pending:
            files.write(directory, "cpu.max.burst", str(s.burst), field=f"{FIELD}.burst")


def _try_write(files: CgroupFiles, directory: str, name: str, value: int, key: str) -> bool:
    try:
        files.write(directory, name, str(value), field=f"{FIELD}.{key}")
    except InvalidArgument:
        return False
    return True


def _write_pair(
    files: CgroupFiles,
    directory: str,
    period: tuple[str, int | None, str],
    amount: tuple[str, int | None, str],
) -> None:
    """Write a period and the amount of time allowed in it. The kernel checks each write
    against the other's current value, so if the period is refused first, write the
    amount and then the period again (runc's order)."""
    period_file, period_value, period_key = period
    amount_file, amount_value, amount_key = amount
    period_pending = False
    if period_value is not None:
        if amount_value is None:
            files.write(directory, period_file, str(period_value), field=f"{FIELD}.{period_key}")
        else:
            period_pending = not _try_write(files, directory, period_file, period_value, period_key)
    if amount_value is not None:
        files.write(directory, amount_file, str(amount_value), field=f"{FIELD}.{amount_key}")
    if period_pending:
        files.write(directory, period_file, str(period_value), field=f"{FIELD}.{period_key}")


CONTROLLER = CpuController()


# -- statistics -------------------------------------------------------------------------

NS_PER_USEC = 1000


def _clock_ticks() -> int:
    try:
        return os.sysconf("SC_CLK_TCK")
    except (ValueError, OSError):
        return 100


def stats_v1(
    files: CgroupFiles, cpuacct_dir: str | None, cpu_dir: str | None
) -> dict[str, int | None]:
    result: dict[str, int | None] = {}
    if cpuacct_dir is not None:
        total = files.read_optional(cpuacct_dir, "cpuacct.usage")
        user = files.read_optional(cpuacct_dir, "cpuacct.usage_user")
        system = files.read_optional(cpuacct_dir, "cpuacct.usage_sys")
        result["cpu_usage_total"] = None if total is None else int(total)
        if user is not None and system is not None:
            result["cpu_usage_user"] = int(user)
            result["cpu_usage_system"] = int(system)
        else:
            ticks = flat_keyed(files.read_optional(cpuacct_dir, "cpuacct.stat"))
            per_tick = 1_000_000_000 // _clock_ticks()
            if "user" in ticks:
                result["cpu_usage_user"] = ticks["user"] * per_tick
            if "system" in ticks:
                result["cpu_usage_system"] = ticks["system"] * per_tick
    if cpu_dir is not None:
        stat = flat_keyed(files.read_optional(cpu_dir, "cpu.stat"))
        result["cpu_periods"] = stat.get("nr_periods")
        result["cpu_throttled_periods"] = stat.get("nr_throttled")
        result["cpu_throttled_time"] = stat.get("throttled_time")
    return result


def stats_v2(files: CgroupFiles, directory: str) -> dict[str, int | None]:
    stat = flat_keyed(files.read_optional(directory, "cpu.stat"))

    def usec(key: str) -> int | None:
        value = stat.get(key)
        return None if value is None else value * NS_PER_USEC

    return {
        "cpu_usage_total": usec("usage_usec"),
        "cpu_usage_user": usec("user_usec"),
        "cpu_usage_system": usec("system_usec"),
        "cpu_periods": stat.get("nr_periods"),
        "cpu_throttled_periods": stat.get("nr_throttled"),
        "cpu_throttled_time": usec("throttled_usec"),
    }
