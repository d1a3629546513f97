"""A container's monitor process: the engine's policy for the generic supervisor of
capsa.monitor — what a start does, what an exit records, when to restart (Docker's
policies, with back-off), health checks, and the cleanup after the last exit."""

from __future__ import annotations

import os
import socket
import time
from dataclasses import replace
from typing import Any

from capsa.config import Config
from capsa.engine import health, networking, prepare
from capsa.engine.db import ContainerRecord
from capsa.engine.engine import Engine, boot_id, now_rfc3339
from capsa.engine.runtimes import OCIRuntime
from capsa.engine.spec import ContainerSpec, Healthcheck
from capsa.engine.state import EXITED, RESTARTING, RUNNING, ContainerState, Health
from capsa.errors import CapsaError, ContainerError, NotFound
from capsa.monitor.supervisor import MonitorOptions, exit_code, run_monitor
from capsa.runtime.procinfo import start_time

TYPE_CHECKING = False
if TYPE_CHECKING:
    from capsa.network.model import NetworkStatus

BACKOFF_START = 0.1  # seconds before the first restart; doubled each time (Docker)
BACKOFF_MAX = 60.0
BACKOFF_RESET_AFTER = 10.0  # a run this long resets the back-off


def parse_size(text: str) -> int:
    from capsa.runtime.update import parse_bytes

    return parse_bytes(text, "log size")


class ContainerHooks:
    def __init__(self, engine: Engine, record: ContainerRecord) -> None:
        self.engine = engine
        self.record = record
        self.id = record.id
        self.runtime: OCIRuntime = engine.runtime(record.spec.runtime)
        self.backoff = BACKOFF_START
        self.run_started = 0.0
        self.check: Healthcheck | None = health.effective_healthcheck(
            record.spec, record.image_config
        )
        self.next_check: float | None = None
        self.check_pid = 0
        self.network: NetworkStatus | None = None

    # -- a start ------------------------------------------------------------------------

    def create(self, console_socket: str | None) -> int:
        try:
            self.record = self.engine.db.container(self.id)
            if self.network is None and networking.uses_networks(self.record.spec):
                # Kept across restarts; this process holds the published ports' sockets.
                self.network = networking.setup(self.engine, self.record)
                self.record = self.engine.db.container(self.id)
            bundle = prepare.prepare_bundle(self.engine, self.record, self.network)
            self.runtime.delete(self.id, force=True)  # a leftover of a killed monitor
            pid = self.runtime.create(self.id, bundle, console_socket=console_socket)
        except OSError as exc:
            raise ContainerError(
                f"{exc.strerror or exc}" + (f": {exc.filename}" if exc.filename else "")
            ) from None
        self.engine.db.update_state(
            self.id,
            lambda s: replace(s, pid=pid, pid_start=start_time(pid), runtime=self.runtime.name),
        )
        return pid

    def start(self) -> None:
        self.runtime.start(self.id)
        self.run_started = time.monotonic()
        started_at = now_rfc3339()

        def running(state: ContainerState) -> ContainerState:
            return replace(
                state,
                status=RUNNING,
                started_at=started_at,
                exit_code=0,
                oom_killed=False,
                error="",
                health=Health() if self.check is not None else None,
            )

        state = self.engine.db.update_state(self.id, running)
        if state.restart_count:
            self.engine.event("container", "restart", self.record)
        self.engine.event("container", "start", self.record)
        if self.check is not None:
            self.next_check = time.monotonic() + health.next_delay(
                self.check, ContainerState(), self.run_started
            )

    # -- an exit --------------------------------------------------------------------------

    def exited(self, status: int) -> float | None:
        code = exit_code(status)
        oom = self._oom_killed()
        try:
            self.runtime.delete(self.id, force=True)
        except (CapsaError, OSError):
            pass
        self.next_check = None
        state = self.engine.db.container(self.id).state
        restart = self._restart_wanted(state, code)
        finished = now_rfc3339()

        def record(current: ContainerState) -> ContainerState:
            return replace(
                current,
                status=RESTARTING if restart else EXITED,
                exit_code=code,
                oom_killed=oom,
                finished_at=finished,
                pid=0,
                restart_count=current.restart_count + (1 if restart else 0),
            )

        self.engine.db.update_state(self.id, record)
        if oom:
            self.engine.event("container", "oom", self.record)
        self.engine.event("container", "die", self.record, exitCode=str(code))
        if not restart:
            return None
        if time.monotonic() - self.run_started >= BACKOFF_RESET_AFTER:
            self.backoff = BACKOFF_START
        delay = self.backoff
        self.backoff = min(self.backoff * 2, BACKOFF_MAX)
        return delay

    def restart_cancelled(self) -> bool:
        """`capsa stop` (or rm) came during the back-off: the restart is off."""
        try:
            state = self.engine.db.container(self.id).state
        except NotFound:
            return True
        if not state.stop_requested:
            return False
        self.engine.db.update_state(
            self.id, lambda s: replace(s, status=EXITED) if s.status == RESTARTING else None
        )
        return True

    def _restart_wanted(self, state: ContainerState, code: int) -> bool:
        policy = self.record.spec.restart
        if state.stop_requested or policy.name == "no":
            return False
        if policy.name == "on-failure":
            if code == 0:
                return False
            return not policy.max_retries or state.restart_count < policy.max_retries
        return True  # always, unless-stopped

    def _oom_killed(self) -> bool:
        from capsa.cgroups import create_manager

        try:
            path = f"{self.record.spec.cgroup_parent or '/capsa'}/{self.id}"
            stats = create_manager(path, self.id).stats()
        except (CapsaError, OSError):
            return False
        return bool(stats.oom_kills)

    def finished(self, code: int) -> None:
        try:
            record = self.engine.db.container(self.id)
        except NotFound:
            return
        if record.state.status != EXITED:
            self.engine.db.update_state(
                self.id,
                lambda s: replace(s, status=EXITED, finished_at=s.finished_at or now_rfc3339()),
            )
        prepare.cleanup_after_exit(self.engine, record)
        if self.network is not None:
            self.network.close_reservations()
            self.network = None
        self.engine.db.update_state(self.id, lambda s: replace(s, monitor_pid=0, pid=0))
        if record.spec.auto_remove:
            self.engine.destroy(self.id, volumes=True)

    # -- health checks --------------------------------------------------------------------

    def next_timer(self) -> float | None:
        return self.next_check if self.check_pid == 0 else None

    def on_timer(self) -> None:
        if self.check is None or self.check_pid:
            return
        self.next_check = None
        record = self.engine.db.container(self.id)
        if record.state.status != RUNNING:
            return
        pid = os.fork()
        if pid == 0:  # pragma: no cover - the check's own process
            code = 0
            try:
                engine = Engine(self.engine.config)
                health.run_check(engine, record, self.check, self.run_started)
            except BaseException:
                code = 1
            os._exit(code)
        self.check_pid = pid

    def child_exited(self, pid: int, status: int) -> None:
        if pid != self.check_pid or self.check is None:
            return
        self.check_pid = 0
        try:
            state = self.engine.db.container(self.id).state
        except NotFound:
            return
        if state.status == RUNNING:
            self.next_check = time.monotonic() + health.next_delay(
                self.check, state, self.run_started
            )


def create_and_monitor(config: Config, request: dict[str, Any], client: socket.socket) -> int:
    """A spawner child for `capsa run`: create the container from the request's spec,
    say so (see capsa.engine.spawner.read_created), then be its monitor."""
    from capsa.engine.engine import mark_starting
    from capsa.engine.spawner import error_document
    from capsa.monitor import attach

    engine = Engine(config)
    try:
        spec = ContainerSpec.from_json(request["run"])
        record = engine.create(spec)
        mark_starting(engine, record.id)
    except CapsaError as exc:
        client.sendall(attach.control({"failed": error_document(exc)}))
        return 1
    client.sendall(attach.control({"created": record.id, "name": record.name}))
    request = {"container": record.id, "stdin_once": bool(request.get("stdin_once"))}
    return run_container_monitor(config, request, client, engine=engine)


def run_container_monitor(
    config: Config,
    request: dict[str, object],
    client: socket.socket,
    *,
    engine: Engine | None = None,
) -> int:
    """The body of a monitor process (forked by the spawner, see capsa.engine.spawner)."""
    from capsa.kernel import process as kproc

    container_id = str(request["container"])
    kproc.set_child_subreaper()
    kproc.set_process_name(f"capsamon-{container_id[:6]}")  # 15 bytes: the limit
    engine = engine or Engine(config)
    record = engine.db.container(container_id)
    me = os.getpid()
    engine.db.update_state(
        container_id,
        lambda s: replace(s, monitor_pid=me, monitor_start=start_time(me), boot_id=boot_id()),
    )
    spec = record.spec
    run_dir = engine.layout.run_dir(container_id)
    os.makedirs(run_dir, mode=0o700, exist_ok=True)
    options = MonitorOptions(
        run_dir=run_dir,
        tty=spec.tty,
        stdin_open=spec.stdin_open,
        stdin_once=bool(request.get("stdin_once")),
        log_path="" if spec.log_driver == "none" else engine.layout.log_path(container_id),
        log_max_size=parse_size(spec.log_options["max-size"])
        if spec.log_options.get("max-size")
        else 0,
        log_max_files=int(spec.log_options.get("max-file", "1")),
    )
    return run_monitor(options, ContainerHooks(engine, record), first_client=client)
