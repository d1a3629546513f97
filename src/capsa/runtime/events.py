"""`events`: resource usage of a container, in runc's `events` JSON shape, once
(`--stats`) or every interval until the container stops."""

from __future__ import annotations

import time

from capsa.errors import Conflict
from capsa.runtime.container import STOPPED, Container

TYPE_CHECKING = False

if TYPE_CHECKING:
    from collections.abc import Callable

    from capsa.runtime.state import StateStore


def _zero(value: int | None) -> int:
    return value or 0


def stats_event(store: StateStore, container_id: str) -> dict[str, object]:
    container = Container.load(store, container_id)
    if container.status() == STOPPED:
        raise Conflict(f"cannot read stats of container {container_id!r}: it is stopped")
    s = container.cgroup().stats().as_dict()
    memory_limit = s["memory_limit"]
    return {
        "type": "stats",
        "id": container_id,
        "data": {
            "cpu": {
                "usage": {
                    "total": _zero(s["cpu_usage_total"]),
                    "user": _zero(s["cpu_usage_user"]),
                    "kernel": _zero(s["cpu_usage_system"]),
                },
                "throttling": {
                    "periods": _zero(s["cpu_periods"]),
                    "throttledPeriods": _zero(s["cpu_throttled_periods"]),
                    "throttledTime": _zero(s["cpu_throttled_time"]),
                },
            },
            "memory": {
                "cache": _zero(s["memory_cache"]),
                "usage": {
                    "usage": _zero(s["memory_usage"]),
                    "max": _zero(s["memory_max_usage"]),
                    "limit": memory_limit if memory_limit is not None else 2**63 - 1,
                },
                "swap": {"usage": _zero(s["swap_usage"]), "limit": _zero(s["swap_limit"])},
                "oomKills": _zero(s["oom_kills"]),
            },
            "pids": {"current": _zero(s["pids_current"]), "limit": _zero(s["pids_limit"])},
        },
    }


def stream(
    store: StateStore, container_id: str, interval: float, emit: Callable[[dict[str, object]], None]
) -> None:
    while True:
        try:
            emit(stats_event(store, container_id))
        except Conflict:
            return
        time.sleep(interval)
