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

A spare: the host forks the next worker ahead of its job, when it has nothing else to do
(`keep_spare`), and hands it the job and its fds on a socket pair when a start comes.
The fork, the copying of the pages a worker writes and the opening of the databases are
then done before the start rather than during it (~3 ms of a `capsa run`). A spare whose
host is gone reads the end of its socket and exits; a start that finds no live spare
forks its worker as before.
"""

from __future__ import annotations

import array
import json
import os
import resource
import signal
import socket
import sys
import time
from dataclasses import asdict, dataclass, replace
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


# A job, its fds and all, fits one packet of the socket pair with room to spare.
MAX_JOB = 256 << 10


@dataclass
class Spare:
    """A worker waiting for its job: its pid and our end of the socket pair."""

    pid: int
    channel: socket.socket


_spare: Spare | None = None


def has_spare() -> bool:
    return _spare is not None


def keep_spare(config: Config) -> None:
    """Fork a spare worker unless one waits already (the host calls this when idle)."""
    global _spare
    if _spare is not None:
        return
    ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    host = os.getpid()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the spare
        ours.close()
        _wait_for_job(config, theirs, host)
    theirs.close()
    _spare = Spare(pid, ours)


def drop_spare(wait: float = 1.0) -> None:
    """Let the spare go: it reads the end of its socket and exits, which we wait for
    (a host that leaves leaves nothing behind)."""
    global _spare
    spare, _spare = _spare, None
    if spare is None:
        return
    spare.channel.close()
    deadline = time.monotonic() + wait
    while True:
        try:
            if os.waitpid(spare.pid, os.WNOHANG)[0] or time.monotonic() > deadline:
                return
        except ChildProcessError:
            return  # reaped already
        time.sleep(0.001)


def launch(
    config: Config,
    job: StartJob,
    stdio: list[int],
    console_socket: str | None,
    report: socket.socket,
) -> int:
    """Hand the job to the spare, or fork its worker; the worker's pid. In a forked
    worker this never returns."""
    pid = _hand_to_spare(job, stdio, console_socket, report)
    if pid:
        return pid
    host = os.getpid()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the worker
        _work(config, job, stdio, console_socket, report, host)
    return pid


def _hand_to_spare(
    job: StartJob, stdio: list[int], console_socket: str | None, report: socket.socket
) -> int:
    """The spare's pid once it has the job; 0 when there is none that can take it."""
    global _spare
    spare, _spare = _spare, None
    if spare is None:
        return 0
    message = json.dumps({"job": asdict(job), "console_socket": console_socket}).encode()
    fds = [*stdio, report.fileno()]
    try:
        if len(message) > MAX_JOB:
            return 0
        spare.channel.sendmsg([message], _rights(fds))
    except OSError:
        return 0  # it died: the job gets a worker of its own
    finally:
        spare.channel.close()  # either way it is done with: it exits or works
    return spare.pid


def _wait_for_job(config: Config, channel: socket.socket, host: int) -> NoReturn:
    """The spare: get ready for a start, wait for it, do it."""
    try:
        _become_worker()
        _close_inherited(channel.fileno())
        engine = Engine(config)
        engine.store.snapshotter  # noqa: B018 - opened now, not during the start
        data, ancillary, _, _ = channel.recvmsg(
            MAX_JOB + 1, socket.CMSG_SPACE(64 * 4), socket.MSG_CMSG_CLOEXEC
        )
    except BaseException:  # never raise out of a forked child
        import traceback

        traceback.print_exc()  # into the host's log
        os._exit(1)
    fds = array.array("i")
    for level, kind, payload in ancillary:
        if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
            fds.frombytes(payload[: len(payload) - len(payload) % fds.itemsize])
    if not data or len(fds) < 2:
        os._exit(0)  # the host let us go (or left)
    channel.close()
    message = json.loads(data)
    job = StartJob(**message["job"])
    report = socket.socket(fileno=fds[-1])
    _work(config, job, list(fds[:-1]), message["console_socket"], report, host, engine)


# SQLite keeps what it knows of an open database per process, file descriptors and all,
# and a connection we open finds it: those stay.
_SQLITE_FILES = (".db", ".db-wal", ".db-shm", ".db-journal")


def _close_inherited(keep: int) -> None:
    """Close what we got of the host's descriptors: it is not ours to hold for as long as
    we wait (a session's stdin pipe would never see its end, a published port would stay
    bound, a removed container's log would keep its space)."""
    for name in os.listdir("/proc/self/fd"):
        fd = int(name)
        if fd < 3 or fd == keep:
            continue
        try:
            if os.readlink(f"/proc/self/fd/{fd}").endswith(_SQLITE_FILES):
                continue
            os.close(fd)
        except OSError:
            pass  # the listing's own descriptor, gone by now


def _become_worker() -> None:
    signal.set_wakeup_fd(-1)
    signal.signal(signal.SIGCHLD, signal.SIG_DFL)  # the runtime waits for its own
    # The init may then be our child, cloned straight into its namespaces, which
    # spares the runtime's intermediate process (see capsa.runtime.process.spawn); it
    # goes to the host with whatever else we leave when we exit, as it would anyway.
    kproc.set_child_subreaper()
    if inherited_nofile is not None:
        resource.setrlimit(resource.RLIMIT_NOFILE, inherited_nofile)


def _work(
    config: Config,
    job: StartJob,
    stdio: list[int],
    console_socket: str | None,
    report: socket.socket,
    host: int,
    engine: Engine | None = None,
) -> NoReturn:
    code = 0
    try:
        _become_worker()  # a spare did already: it is the same again
        for target, fd in enumerate(stdio):
            os.dup2(fd, target)  # inheritable: the container gets them
        _start(engine or Engine(config), job, console_socket, report, host)
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
    engine: Engine, job: StartJob, console_socket: str | None, report: socket.socket, host: int
) -> None:

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
    try:
        report.sendmsg([data], _rights(fds) if fds else [])
    except OSError:
        sys.stderr.write(f"capsa worker: the host went away before it heard {message}\n")


def _rights(fds: list[int]) -> list[tuple[int, int, bytes]]:
    """The ancillary data that passes `fds` (SCM_RIGHTS)."""
    return [(socket.SOL_SOCKET, socket.SCM_RIGHTS, array.array("i", fds).tobytes())]
