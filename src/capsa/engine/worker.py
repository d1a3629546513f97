"""A container start's worker: forked by the monitor host for each start, it creates the
container through the runtime (and, for `capsa run`, the container itself from its
spec), starts it, reports the init's pid, and exits.

Why a process of its own: a create is the slow part of a start (mounts, networks, the
runtime) and the part that can crash; done here, it cannot stall the host's loop or take
it down, and what memory it dirtied goes away with it. The init it made reparents to the
host, a child subreaper, when this process exits.

Reports go on a SOCK_SEQPACKET socket (see capsa.monitor.session); the sockets that hold
a container's published ports travel with `started`, so the host keeps them for as long
as the container lives.
"""

from __future__ import annotations

import array
import json
import os
import resource
import signal
import socket
import sys
from dataclasses import dataclass, replace
from typing import Any, NoReturn

from capsa.config import Config
from capsa.engine import networking, prepare
from capsa.engine.db import ContainerRecord
from capsa.engine.engine import Engine, boot_id, mark_starting, now_rfc3339
from capsa.engine.spec import ContainerSpec
from capsa.engine.state import RUNNING, ContainerState, Health
from capsa.errors import CapsaError, ContainerError
from capsa.kernel import process as kproc
from capsa.runtime.procinfo import start_time

TYPE_CHECKING = False
if TYPE_CHECKING:
    from capsa.network.model import NetworkStatus

# The host raises its own open-files limit (it holds every container's stdio); what it
# was is what the containers inherit, as they did from a monitor of their own.
inherited_nofile: tuple[int, int] | None = None


@dataclass(frozen=True)
class StartJob:
    container_id: str = ""  # "" with a run spec: the worker creates the container first
    run_spec: dict[str, Any] | None = None
    network_ready: bool = False  # a restart: the networks (and their ports) stay
    has_healthcheck: bool = False


def launch(
    config: Config,
    job: StartJob,
    stdio: list[int],
    console_socket: str | None,
    report: socket.socket,
) -> int:
    """Fork the worker; its pid. In the child this never returns."""
    host = os.getpid()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the worker
        _work(config, job, stdio, console_socket, report, host)
    return pid


def _work(
    config: Config,
    job: StartJob,
    stdio: list[int],
    console_socket: str | None,
    report: socket.socket,
    host: int,
) -> NoReturn:
    code = 0
    try:
        signal.set_wakeup_fd(-1)
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)  # the runtime waits for its own
        # The init may then be our child, cloned straight into its namespaces, which
        # spares the runtime's intermediate process (see capsa.runtime.process.spawn); it
        # goes to the host with whatever else we leave when we exit, as it would anyway.
        kproc.set_child_subreaper()
        if inherited_nofile is not None:
            resource.setrlimit(resource.RLIMIT_NOFILE, inherited_nofile)
        for target, fd in enumerate(stdio):
            os.dup2(fd, target)  # inheritable: the container gets them
        _start(config, job, console_socket, report, host)
    except CapsaError as exc:
        code = 1
        _send(report, {"error": str(exc)})
    except OSError as exc:
        code = 1
        _send(report, {"error": str(exc)})
    except BaseException as exc:  # report, never raise out of a forked child
        code = 1
        _send(report, {"error": f"monitor: {exc}"})
        import traceback

        traceback.print_exc()
    finally:
        os._exit(code)


def _start(
    config: Config, job: StartJob, console_socket: str | None, report: socket.socket, host: int
) -> None:
    engine = Engine(config)

    def monitored(state: ContainerState) -> ContainerState:
        return replace(state, monitor_pid=host, monitor_start=start_time(host), boot_id=boot_id())

    container_id = job.container_id
    if job.run_spec is not None:
        from capsa.engine.spawner import error_document

        try:
            record = engine.create(ContainerSpec.from_json(job.run_spec))
            mark_starting(engine, record.id, then=monitored)
        except CapsaError as exc:
            _send(report, {"failed": error_document(exc)})
            return
        container_id = record.id
        _send(report, {"created": record.id, "name": record.name})
    else:
        engine.db.update_state(container_id, monitored)
    # As stored: the spec the networks and the bundle are made from is the row's.
    record = engine.db.container(container_id)
    network = _network(engine, record, job.network_ready)
    pid = _create(engine, container_id, network, console_socket)
    _run(engine, record, job.has_healthcheck)
    fds = network.fds() if network is not None and not job.network_ready else []
    _send(report, {"started": pid}, fds)


def _network(engine: Engine, record: ContainerRecord, ready: bool) -> NetworkStatus | None:
    if not networking.uses_networks(record.spec):
        return None
    if ready:  # set up by the first start; its published ports' sockets are the host's
        return networking.current_status(engine.config, record.id)
    return networking.setup(engine, record)


def _create(
    engine: Engine, container_id: str, network: NetworkStatus | None, console_socket: str | None
) -> int:
    record = engine.db.container(container_id)  # with the namespace the networks recorded
    runtime = engine.runtime(record.spec.runtime)
    try:
        bundle = prepare.prepare_bundle(engine, record, network)
        runtime.delete(container_id, force=True)  # a leftover of a killed monitor
        pid = runtime.create(container_id, bundle, console_socket=console_socket)
    except OSError as exc:
        raise ContainerError(
            f"{exc.strerror or exc}" + (f": {exc.filename}" if exc.filename else "")
        ) from None
    engine.db.update_state(
        container_id,
        lambda s: replace(s, pid=pid, pid_start=start_time(pid), runtime=runtime.name),
    )
    return pid


def _run(engine: Engine, record: ContainerRecord, has_healthcheck: bool) -> None:
    container_id = record.id
    engine.runtime(record.spec.runtime).start(container_id)
    started_at = now_rfc3339()

    def running(state: ContainerState) -> ContainerState:
        return replace(
            state,
            status=RUNNING,
            started_at=started_at,
            exit_code=0,
            oom_killed=False,
            error="",
            health=Health() if has_healthcheck else None,
        )

    state = engine.db.update_state(container_id, running)
    if state.restart_count:
        engine.event("container", "restart", record)
    engine.event("container", "start", record)


def _send(report: socket.socket, message: dict[str, Any], fds: list[int] | None = None) -> None:
    data = json.dumps(message).encode()
    ancillary = []
    if fds:
        ancillary = [(socket.SOL_SOCKET, socket.SCM_RIGHTS, array.array("i", fds).tobytes())]
    try:
        report.sendmsg([data], ancillary)
    except OSError:
        sys.stderr.write(f"capsa worker: the host went away before it heard {message}\n")
