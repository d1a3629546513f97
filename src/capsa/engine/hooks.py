"""A container's supervision policy in the monitor host: the engine's hooks for
capsa.monitor.session — which worker does a start (capsa.engine.worker), what an exit
records, when to restart (Docker's policies, with back-off), health checks, and the
cleanup after the last exit.

One object per supervised container, holding little: its id, its health check, the
back-off and the published ports' sockets the first start's worker handed over."""

from __future__ import annotations

import contextlib
import os
import socket
import time
from dataclasses import replace
from typing import Any

from capsa.engine import health, prepare
from capsa.engine.engine import Engine, now_rfc3339
from capsa.engine.spec import Healthcheck
from capsa.engine.state import EXITED, RESTARTING, RUNNING, ContainerState
from capsa.engine.worker import StartJob, launch
from capsa.errors import CapsaError, NotFound
from capsa.monitor.session import exit_code

BACKOFF_START = 0.1  # seconds before the first restart; doubled each time (Docker)
BACKOFF_MAX = 60.0
BACKOFF_RESET_AFTER = 10.0  # a run this long resets the back-off


def parse_size(text: str) -> int:
    from capsa.runtime.update import parse_bytes

    return parse_bytes(text, "log size")


class ContainerHooks:
    """`container_id` is "" for a `run` request until its worker created the container."""

    def __init__(
        self, engine: Engine, container_id: str = "", run_spec: dict[str, Any] | None = None
    ) -> None:
        self.engine = engine
        self.id = container_id
        self.run_spec = run_spec
        self.backoff = BACKOFF_START
        self.run_started = 0.0
        self.check: Healthcheck | None = None
        self.next_check: float | None = None
        self.check_pid = 0
        self.port_fds: list[int] = []  # published ports' sockets: held while it lives
        self.starts = 0
        if container_id:
            self._load_check()

    def _load_check(self) -> None:
        record = self.engine.db.container(self.id)
        self.check = health.effective_healthcheck(record.spec, record.image_config)

    # -- a start ------------------------------------------------------------------------

    def launch(self, stdio: list[int], console_socket: str | None, report: socket.socket) -> int:
        first = self.starts == 0
        self.starts += 1
        job = StartJob(
            container_id=self.id,
            run_spec=self.run_spec if first and not self.id else None,
            network_ready=not first,
            has_healthcheck=self.check is not None,
        )
        return launch(self.engine.config, job, stdio, console_socket, report)

    def reported(self, message: dict[str, Any], fds: list[int]) -> None:
        if "created" in message:
            self.id = str(message["created"])
            self.run_spec = None
            self._load_check()
        self.port_fds.extend(fds)

    def attach_path(self) -> str | None:
        if not self.id:
            return None  # a run request's container, not created yet
        run_dir = self.engine.layout.run_dir(self.id)
        os.makedirs(run_dir, mode=0o700, exist_ok=True)
        return os.path.join(run_dir, "attach.sock")

    def log_target(self) -> tuple[str, int, int] | None:
        spec = self.engine.db.container(self.id).spec
        if spec.log_driver == "none":
            return None
        size = spec.log_options.get("max-size")
        return (
            self.engine.layout.log_path(self.id),
            parse_size(size) if size else 0,
            int(spec.log_options.get("max-file", "1")),
        )

    def started(self, pid: int) -> None:
        self.run_started = time.monotonic()
        if self.check is not None:
            self.next_check = time.monotonic() + health.next_delay(
                self.check, ContainerState(), self.run_started
            )

    # -- an exit --------------------------------------------------------------------------

    def exited(self, status: int) -> float | None:
        code = exit_code(status)
        record = self.engine.db.container(self.id)
        runtime = self.engine.runtime(record.state.runtime or record.spec.runtime)
        oom = self._oom_killed(record.spec.cgroup_parent)
        try:
            runtime.delete(self.id, force=True)
        except (CapsaError, OSError):
            pass
        self.next_check = None
        restart = self._restart_wanted(record.spec.restart, record.state, code)
        finished = now_rfc3339()

        def record_exit(current: ContainerState) -> ContainerState:
            return replace(
                current,
                status=RESTARTING if restart else EXITED,
                exit_code=code,
                oom_killed=oom,
                finished_at=finished,
                pid=0,
                restart_count=current.restart_count + (1 if restart else 0),
            )

        self.engine.db.update_state(self.id, record_exit)
        if oom:
            self.engine.event("container", "oom", record)
        self.engine.event("container", "die", record, exitCode=str(code))
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

    @staticmethod
    def _restart_wanted(policy: Any, state: ContainerState, code: int) -> bool:
        if state.stop_requested or policy.name == "no":
            return False
        if policy.name == "on-failure":
            if code == 0:
                return False
            return not policy.max_retries or state.restart_count < policy.max_retries
        return True  # always, unless-stopped

    def _oom_killed(self, cgroup_parent: str) -> bool:
        from capsa.cgroups import create_manager

        try:
            path = f"{cgroup_parent or '/capsa'}/{self.id}"
            return bool(create_manager(path, self.id).oom_kills())
        except (CapsaError, OSError):
            return False

    def finished(self, code: int) -> None:
        try:
            self._clean_up()
        finally:
            for fd in self.port_fds:
                os.close(fd)
            self.port_fds.clear()

    def _clean_up(self) -> None:
        if not self.id:
            return  # a run whose worker died before it created anything
        try:
            record = self.engine.db.container(self.id)
        except NotFound:
            return
        if record.spec.auto_remove:
            # Straight to removal: the row's interim updates would be deleted with it.
            try:
                self.engine.destroy(self.id, volumes=True, record=record)
            except BaseException:
                with contextlib.suppress(NotFound):  # a truthful row for `rm -f` to finish
                    self.engine.db.update_state(self.id, _exited_unmonitored)
                raise
            return
        if record.state.status != EXITED:
            self.engine.db.update_state(
                self.id,
                lambda s: replace(s, status=EXITED, finished_at=s.finished_at or now_rfc3339()),
            )
        prepare.cleanup_after_exit(self.engine, record)
        self.engine.db.update_state(self.id, lambda s: replace(s, monitor_pid=0, pid=0))

    # -- health checks --------------------------------------------------------------------

    def next_timer(self) -> float | None:
        return self.next_check if self.check_pid == 0 else None

    def on_timer(self) -> int:
        if self.check is None or self.check_pid:
            return 0
        self.next_check = None
        record = self.engine.db.container(self.id)
        if record.state.status != RUNNING:
            return 0
        pid = os.fork()
        if pid == 0:  # pragma: no cover - the check's own process
            code = 0
            try:
                import signal

                signal.set_wakeup_fd(-1)
                signal.signal(signal.SIGCHLD, signal.SIG_DFL)
                engine = Engine(self.engine.config)
                health.run_check(engine, record, self.check, self.run_started)
            except BaseException:
                code = 1
            os._exit(code)
        self.check_pid = pid
        return pid

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


def _exited_unmonitored(state: ContainerState) -> ContainerState:
    return replace(
        state, status=EXITED, finished_at=state.finished_at or now_rfc3339(), monitor_pid=0, pid=0
    )
