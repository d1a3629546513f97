"""Health checks (Docker's HEALTHCHECK): the test run inside the container on an
interval, its result kept (the last five), and the status worked out as Docker does —
`starting` until the first success, `unhealthy` after `retries` failures in a row
(failures during the start period do not count), `healthy` at the next success."""

from __future__ import annotations

import os
import signal
import threading
import time
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from capsa.engine.spec import ContainerSpec, Healthcheck
from capsa.engine.state import (
    HEALTH_LOG_ENTRIES,
    HEALTHY,
    STARTING,
    UNHEALTHY,
    ContainerState,
    Health,
    HealthResult,
)

if TYPE_CHECKING:
    from capsa.engine.db import ContainerRecord
    from capsa.engine.engine import Engine

DEFAULT_INTERVAL = 30.0
DEFAULT_TIMEOUT = 30.0
DEFAULT_START_INTERVAL = 5.0
DEFAULT_RETRIES = 3
MAX_OUTPUT = 4096  # bytes of a check's output kept, as Docker


def effective_healthcheck(spec: ContainerSpec, image: dict[str, Any]) -> Healthcheck | None:
    """The image's HEALTHCHECK with the --health-* flags laid over it field by field;
    None when there is none or it is disabled (--no-healthcheck, NONE)."""
    if spec.no_healthcheck:
        return None
    ns = 1e9
    base = image.get("Healthcheck") or {}
    merged = Healthcheck(
        test=list(base.get("Test") or []),
        interval=float(base.get("Interval") or 0) / ns,
        timeout=float(base.get("Timeout") or 0) / ns,
        start_period=float(base.get("StartPeriod") or 0) / ns,
        start_interval=float(base.get("StartInterval") or 0) / ns,
        retries=int(base.get("Retries") or 0),
    )
    given = spec.healthcheck
    if given is not None:
        merged = Healthcheck(
            test=given.test or merged.test,
            interval=given.interval or merged.interval,
            timeout=given.timeout or merged.timeout,
            start_period=given.start_period or merged.start_period,
            start_interval=given.start_interval or merged.start_interval,
            retries=given.retries or merged.retries,
        )
    if not merged.test or merged.test[0] == "NONE":
        return None
    return merged


def check_process(check: Healthcheck, config: dict[str, Any]) -> dict[str, Any]:
    """The OCI process of one check: the container's user, env and cwd."""
    base = config.get("process", {})
    if check.test[0] == "CMD-SHELL":
        args = ["/bin/sh", "-c", " ".join(check.test[1:])]
    elif check.test[0] == "CMD":
        args = list(check.test[1:])
    else:
        args = list(check.test)
    process = {
        "args": args,
        "env": list(base.get("env", [])),
        "cwd": base.get("cwd", "/"),
        "user": dict(base.get("user", {"uid": 0, "gid": 0})),
        "terminal": False,
        "noNewPrivileges": bool(base.get("noNewPrivileges")),
    }
    if "capabilities" in base:
        process["capabilities"] = base["capabilities"]
    return process


def next_delay(check: Healthcheck, state: ContainerState, started: float) -> float:
    """Seconds to the next check: the start interval while in the start period and not
    yet healthy, else the interval."""
    interval = check.interval or DEFAULT_INTERVAL
    in_start_period = time.monotonic() - started < check.start_period
    if in_start_period and (state.health is None or state.health.status == STARTING):
        return check.start_interval or DEFAULT_START_INTERVAL
    return interval


def record_result(
    state: ContainerState, check: Healthcheck, result: HealthResult, in_start_period: bool
) -> ContainerState:
    health = state.health or Health()
    log = [*health.log, result][-HEALTH_LOG_ENTRIES:]
    if result.exit_code == 0:
        return replace(state, health=Health(HEALTHY, 0, log))
    if in_start_period:
        return replace(state, health=Health(health.status, health.failing_streak, log))
    streak = health.failing_streak + 1
    status = UNHEALTHY if streak >= (check.retries or DEFAULT_RETRIES) else health.status
    return replace(state, health=Health(status, streak, log))


def run_check(engine: Engine, record: ContainerRecord, check: Healthcheck, started: float) -> None:
    """Run one check and record it (in a child of the monitor: it may take a while)."""
    from capsa.times import rfc3339_nano

    config = _bundle_config(engine, record.id)
    process = check_process(check, config)
    runtime = engine.runtime(record.state.runtime or record.spec.runtime)
    timeout = check.timeout or DEFAULT_TIMEOUT
    read_end, write_end = os.pipe()
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)
    os.dup2(write_end, 1)
    os.dup2(write_end, 2)
    os.close(write_end)
    output = bytearray()

    def collect() -> None:
        while chunk := os.read(read_end, 65536):
            if len(output) < MAX_OUTPUT:
                output.extend(chunk[: MAX_OUTPUT - len(output)])

    reader = threading.Thread(target=collect, daemon=True)
    reader.start()
    pid_file = os.path.join(engine.layout.run_dir(record.id), f"health-{os.getpid()}.pid")
    timed_out = False

    def on_timeout(signum: int, frame: object) -> None:
        nonlocal timed_out
        timed_out = True
        try:
            with open(pid_file) as f:
                os.kill(int(f.read()), signal.SIGKILL)
        except (OSError, ValueError):
            pass

    start = rfc3339_nano()
    signal.signal(signal.SIGALRM, on_timeout)
    signal.setitimer(signal.ITIMER_REAL, timeout)
    try:
        code = runtime.exec(record.id, process, pid_file=pid_file)
    except Exception as exc:  # the check could not run at all: a failure, as Docker
        code = -1
        output.extend(str(exc).encode()[:MAX_OUTPUT])
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        for fd in (1, 2):
            os.dup2(null, fd)
        try:
            os.unlink(pid_file)
        except FileNotFoundError:
            pass
    reader.join(1.0)
    text = output.decode(errors="replace")
    if timed_out:
        code = -1
        text = f"Health check exceeded timeout ({timeout:g}s)"
    result = HealthResult(start, rfc3339_nano(), code, text)
    in_start_period = time.monotonic() - started < check.start_period
    before = record.state.health.status if record.state.health else STARTING
    state = engine.db.update_state(
        record.id,
        lambda s: record_result(s, check, result, in_start_period) if s.active else None,
    )
    after = state.health.status if state.health else before
    if after != before:
        engine.event("container", f"health_status: {after}", record)


def _bundle_config(engine: Engine, container_id: str) -> dict[str, Any]:
    import json

    with open(os.path.join(engine.layout.bundle(container_id), "config.json")) as f:
        config: dict[str, Any] = json.load(f)
    return config
