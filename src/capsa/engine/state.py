"""A container's live state as the engine database keeps it, and Docker's statuses.

The monitor writes what it sees (started, exited, health); commands write what they ask
(stop requested). What a dead monitor could not write is worked out by `reconcile`
(capsa.engine.containers) from the processes that are, or are not, still there."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

CREATED = "created"
RUNNING = "running"
PAUSED = "paused"
RESTARTING = "restarting"
REMOVING = "removing"
EXITED = "exited"
DEAD = "dead"
STATUSES = (CREATED, RUNNING, PAUSED, RESTARTING, REMOVING, EXITED, DEAD)

# Health statuses, as Docker names them.
STARTING = "starting"
HEALTHY = "healthy"
UNHEALTHY = "unhealthy"
NO_HEALTHCHECK = "none"
HEALTH_LOG_ENTRIES = 5  # Docker keeps the last five results


@dataclass
class HealthResult:
    start: str  # RFC 3339
    end: str
    exit_code: int
    output: str


@dataclass
class Health:
    status: str = STARTING
    failing_streak: int = 0
    log: list[HealthResult] = field(default_factory=list)


@dataclass
class ContainerState:
    status: str = CREATED
    pid: int = 0  # the container's init on the host
    pid_start: int = 0  # its start time (/proc/PID/stat field 22): PID reuse guard
    monitor_pid: int = 0
    monitor_start: int = 0
    boot_id: str = ""  # the boot the pids belong to
    exit_code: int = 0
    oom_killed: bool = False
    error: str = ""
    started_at: str = ""  # RFC 3339 with nanoseconds, "" if never
    finished_at: str = ""
    restart_count: int = 0
    stop_requested: bool = False  # stopped by the user: no restart
    health: Health | None = None
    # What the current start set up and the cleanup must undo.
    runtime: str = ""
    rootfs_mounted: bool = False
    netns: str = ""
    network_status: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ContainerState:
        known = {f.name for f in dataclasses.fields(cls)}
        values = {key: value for key, value in data.items() if key in known}
        health = values.get("health")
        if isinstance(health, dict):
            values["health"] = Health(
                status=health.get("status", STARTING),
                failing_streak=health.get("failing_streak", 0),
                log=[HealthResult(**entry) for entry in health.get("log", [])],
            )
        return cls(**values)

    @property
    def active(self) -> bool:
        """Running, paused or between restarts: a process or a monitor may be there."""
        return self.status in (RUNNING, PAUSED, RESTARTING)
