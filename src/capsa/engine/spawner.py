"""The monitor host: one long-lived process per run root that supervises every
container started under it (containerd's shim v2 grouping containers, in one process).

Why one process: a forked CPython monitor per container owns ~3 MB of private pages idle
and ~7.6 MB after doing a start's work; one host holding them all costs its memory
divided by the containers it holds. It is a child subreaper, so every container init ends
up its child: it reaps them, holds their stdio, writes their logs, serves their attach
clients and runs their restart policies and health checks, all in one event loop
(capsa.monitor.loop, a capsa.monitor.session per container, the policy in
capsa.engine.hooks). The work of a start (create through the runtime, start) is done by a
short-lived worker forked per start (capsa.engine.worker): a slow or crashing create cannot
stall or kill the loop, and the memory it dirtied goes away with it.

It is started on demand by the first command that needs it (double-forked, its own
session), listens on `<run>/monitor.sock`, and exits only once it has held no container
and had no request for IDLE_EXIT seconds.

The trade-off of one host per root: if it is killed, the live log capture and attach of
every container it held end with it. The containers keep running, unsupervised; the
engine works out the truth from the processes (Engine.reconcile: `ps -a` shows them
running, or exited with the monitor's error once they are gone), and `stop`, `kill` and
`rm -f` still work through the runtime. The next request starts a new host.

Requests, one JSON line:
- `{"container": ID, "stdin_once": bool}`: start that container under a new session;
- `{"run": SPEC, "stdin_once": bool}`: create a container from SPEC, answer one control
  frame (`{"created": ID, "name": NAME}` or `{"failed": {"type", "message", "hint"}}`),
  then start it as above. `capsa run` asks this way, so that it imports only the flags
  and this module, not the engine.
- `{"exit": true}`: leave now if no container is held and no other request is being
  read (`capsa system reset`); answers one control frame, `{"exited": PID}` or
  `{"busy": N}` (the sessions it still holds), and closes.
The connection then belongs to the container's session, which speaks the attach protocol
on it (capsa.monitor.attach).
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import sys
import time
from typing import Any

from capsa import errors
from capsa.config import Config
from capsa.detach import start_detached
from capsa.engine.layout import Layout
from capsa.errors import (
    CapsaError,
    CommandNotFound,
    CommandNotInvokable,
    Conflict,
    ContainerError,
    Unavailable,
)
from capsa.monitor import attach
from capsa.store._files import FileLock

IDLE_EXIT = 300.0
SPARE_AFTER_QUIET = 0.003  # seconds without events before the host forks a spare worker
START_TIMEOUT = 10.0
REQUEST_TIMEOUT = 10.0  # seconds a connection may take to send its request line
MAX_REQUEST = 1 << 20  # a run request carries the whole spec


def request_monitor(
    layout: Layout, container_id: str, *, stdin_once: bool = False
) -> socket.socket:
    connection = connect(layout)
    request = {"container": container_id, "stdin_once": stdin_once}
    connection.sendall(json.dumps(request).encode() + b"\n")
    return connection


def request_run(layout: Layout, spec: dict[str, Any], *, stdin_once: bool = False) -> socket.socket:
    """Ask for a container to be created from `spec` (ContainerSpec.to_json()) and
    started under a new monitor, all in the spawner's child: the command that asks needs
    none of the engine's modules. Read its answer with read_created()."""
    connection = connect(layout)
    request = {"run": spec, "stdin_once": stdin_once}
    connection.sendall(json.dumps(request).encode() + b"\n")
    return connection


def read_created(connection: socket.socket) -> tuple[str, str]:
    """(ID, name) of the container a run request created; the create's own error, typed,
    when it failed. Reads exactly one frame: what follows belongs to the monitor."""
    message = _read_control(connection)
    if "created" in message:
        return str(message["created"]), str(message.get("name", ""))
    failed = message.get("failed")
    if isinstance(failed, dict):
        kind = getattr(errors, str(failed.get("type", "")), None)
        if not (isinstance(kind, type) and issubclass(kind, errors.CapsaError)):
            kind = errors.CapsaError
        raise kind(str(failed.get("message", "")), hint=failed.get("hint") or None)
    raise ContainerError(str(message.get("error", "the container could not be created")))


def error_document(exc: errors.CapsaError) -> dict[str, Any]:
    return {"type": type(exc).__name__, "message": exc.message, "hint": exc.hint}


def _recv_exactly(connection: socket.socket, size: int) -> bytes:
    data = connection.recv(size, socket.MSG_WAITALL) if size else b""
    if len(data) != size:
        raise ContainerError("the monitor spawner went away before it answered")
    return data


def connect(layout: Layout) -> socket.socket:
    """A connection to the spawner of this run root, starting it if it is not there."""
    try:
        return attach.connect(layout.spawner_socket)
    except (FileNotFoundError, ConnectionRefusedError):
        pass
    os.makedirs(layout.run, mode=0o700, exist_ok=True)  # a new root: nothing made yet
    with FileLock(os.path.join(layout.run, "monitor.lock")):
        try:
            return attach.connect(layout.spawner_socket)
        except (FileNotFoundError, ConnectionRefusedError):
            pass
        _launch(layout.config)
        deadline = time.monotonic() + START_TIMEOUT
        delay = 0.001
        while True:
            try:
                return attach.connect(layout.spawner_socket)
            except (FileNotFoundError, ConnectionRefusedError):
                if time.monotonic() >= deadline:
                    raise Unavailable(
                        "the monitor spawner did not start",
                        hint=f"see {os.path.join(layout.run, 'monitor.log')}",
                    ) from None
                time.sleep(delay)
                delay = min(delay * 2, 0.02)


def _launch(config: Config) -> None:
    """Start `python -m capsa.engine.spawner` detached: not our child, its own session."""
    os.makedirs(config.run_root, mode=0o700, exist_ok=True)
    log = os.path.join(config.run_root, "monitor.log")
    command = [
        sys.executable,
        "-m",
        "capsa.engine.spawner",
        "--root",
        os.fspath(config.root),
        "--run-root",
        os.fspath(config.run_root),
    ]
    start_detached(command, log)


def stop_host(layout: Layout, timeout: float = 10.0) -> None:
    """End the monitor host of this run root once it holds no container (after every
    container was removed: its sessions end a moment after their containers), and wait
    until its process is gone. Nothing when no host runs; Conflict when it still holds
    containers after `timeout` seconds."""
    from capsa.runtime.procinfo import wait_gone  # not on `capsa run`'s import path

    deadline = time.monotonic() + timeout
    busy = 0
    while True:
        try:
            connection = attach.connect(layout.spawner_socket, timeout=timeout)
        except (FileNotFoundError, ConnectionRefusedError):
            return  # no host (one that crashed left its socket: refused)
        try:
            connection.settimeout(timeout)
            connection.sendall(json.dumps({"exit": True}).encode() + b"\n")
            answer = _read_control(connection)
        except OSError as error:
            raise Unavailable(f"cannot ask the monitor host to exit: {error}") from None
        finally:
            connection.close()
        if "exited" in answer:
            pid = int(answer["exited"])
            if not wait_gone(pid, max(deadline - time.monotonic(), 0.0)):
                raise Unavailable(f"the monitor host (pid {pid}) did not exit")
            return
        busy = int(answer.get("busy", 0))
        if time.monotonic() >= deadline:
            raise Conflict(
                f"the monitor host still holds {busy} container session(s)",
                hint=f"see {os.path.join(layout.run, 'monitor.log')}",
            )
        time.sleep(0.05)


def _read_control(connection: socket.socket) -> dict[str, Any]:
    header = _recv_exactly(connection, attach.HEADER.size)
    stream, size = attach.HEADER.unpack(header)
    if stream != attach.CONTROL or size > attach.MAX_FRAME:
        raise ContainerError("the monitor spawner answered out of protocol")
    return attach.decode_control(_recv_exactly(connection, size))


# -- the host ------------------------------------------------------------------------------


def _preload() -> None:
    """Import what the host and its workers run: workers share it with the host (see the
    module's notes), and the host imports nothing in the middle of its work."""
    import capsa.cgroups
    import capsa.cgroups.memory  # an exit's OOM check
    import capsa.engine.hooks
    import capsa.engine.worker
    import capsa.monitor.session
    import capsa.network.netns
    import capsa.network.networks
    import capsa.network.resolv
    import capsa.oci.canonical  # a create reads the image's config
    import capsa.runtime.console
    import capsa.runtime.create
    import capsa.runtime.delete
    import capsa.runtime.exec
    import capsa.runtime.kill
    import capsa.runtime.start
    import capsa.runtime.update
    import capsa.store.store
    import capsa.transport.store.find

    _warm_seccomp()
    capsa.runtime.create._owner()  # the state's owner, read through NSS


def _warm_seccomp() -> None:
    """Compile the default seccomp profile once, here: every worker forked from the host
    then finds its compiler loaded and the default filter compiled (~5 ms a start)."""
    import capsa.cgroups.cpuset  # noqa: F401 - loaded by every create
    from capsa.engine import ociconfig
    from capsa.engine.security import security_context
    from capsa.engine.spec import ContainerSpec
    from capsa.runtime.seccomp import compile_seccomp_cached

    context = security_context(
        ContainerSpec(image=""), ociconfig.MASKED_PATHS, ociconfig.READONLY_PATHS
    )
    if context.seccomp is not None:
        compile_seccomp_cached(context.seccomp)


class _Host:
    """The listener, the requests being read, and a session per supervised container."""

    def __init__(self, config: Config) -> None:
        from capsa.engine.engine import Engine
        from capsa.monitor.loop import IN, EventLoop

        self.config = config
        self.layout = Layout(config)
        self.layout.make_dirs()
        self.engine = Engine(config)
        self.loop = EventLoop()
        self.sessions: set[Any] = set()
        self.requests: set[_Request] = set()
        self.consoles = 0
        self.leaving = False
        self.listener = attach.listen(self.layout.spawner_socket, backlog=64)
        self.listener.setblocking(False)
        self.loop.add(self.listener.fileno(), IN, self._accept)

    def _accept(self, event: int) -> None:
        while True:
            try:
                connection, _ = self.listener.accept()
            except (BlockingIOError, InterruptedError):
                return
            _Request(self, connection)

    def serve(self) -> int:
        from capsa.engine import worker
        from capsa.monitor.session import RUNNING

        last_activity = quiet_since = time.monotonic()
        while True:
            # The next start's spare, once the host has had nothing to do for a moment and
            # every container runs: its fork and its own start would otherwise take the
            # host and a core from a start, an exit or a removal.
            wanted = not worker.has_spare() and all(s.phase == RUNNING for s in self.sessions)
            if wanted and time.monotonic() - quiet_since >= SPARE_AFTER_QUIET:
                worker.keep_spare(self.config)
                wanted = False
            if self.loop.run_once(SPARE_AFTER_QUIET if wanted else 1.0):
                quiet_since = time.monotonic()
            if self.leaving:
                worker.drop_spare()
                return 0
            now = time.monotonic()
            if self.sessions or self.requests:
                last_activity = now
            elif now - last_activity > IDLE_EXIT:
                # Leave: a client that connects after the unlink starts a new host.
                os.unlink(self.layout.spawner_socket)
                self.listener.close()
                worker.drop_spare()
                return 0

    def begin(self, request: dict[str, Any], connection: socket.socket) -> None:
        """A session for the request; the connection is its first client."""
        from capsa.engine.hooks import ContainerHooks
        from capsa.monitor.session import Session, SessionOptions

        if "exit" in request:
            self._exit_if_idle(connection)
            return
        if "run" in request:
            spec = request["run"]
            if not isinstance(spec, dict):
                raise ValueError("a run request carries a spec object")
            hooks = ContainerHooks(self.engine, run_spec=spec)
            tty, stdin_open = bool(spec.get("tty")), bool(spec.get("stdin_open"))
        else:
            record = self.engine.db.container(str(request["container"]))
            hooks = ContainerHooks(self.engine, record.id)
            tty, stdin_open = record.spec.tty, record.spec.stdin_open
        self.consoles += 1
        options = SessionOptions(
            tty=tty,
            stdin_open=stdin_open,
            stdin_once=bool(request.get("stdin_once")),
            console_path=os.path.join(self.layout.run, f"console-{self.consoles}.sock"),
        )
        session = Session(
            self.loop, hooks, options, first_client=connection, on_done=self.sessions.discard
        )
        self.sessions.add(session)
        session.start()

    def _exit_if_idle(self, connection: socket.socket) -> None:
        """Leave at once when nothing is held (the request asking is already done):
        unlink the socket first, so that a client from now on starts a new host."""
        busy = len(self.sessions) + len(self.requests)
        if not busy:
            self.leaving = True
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self.layout.spawner_socket)
            self.loop.remove(self.listener.fileno())
            self.listener.close()
        answer = {"busy": busy} if busy else {"exited": os.getpid()}
        with contextlib.suppress(OSError):
            connection.setblocking(True)
            connection.settimeout(1.0)
            connection.sendall(attach.control(answer))
        connection.close()


class _Request:
    """A connection whose request line is not all here yet; read without blocking."""

    def __init__(self, host: _Host, connection: socket.socket) -> None:
        from capsa.monitor.loop import IN

        self.host = host
        self.connection = connection
        self.until = time.monotonic() + REQUEST_TIMEOUT
        connection.setblocking(False)
        host.requests.add(self)
        host.loop.timed.add(self)
        host.loop.add(connection.fileno(), IN, self._readable)

    def deadline(self) -> float:
        return self.until

    def on_deadline(self) -> None:
        self._done()
        self.connection.close()

    def _done(self) -> None:
        self.host.loop.remove(self.connection.fileno())
        self.host.loop.timed.discard(self)
        self.host.requests.discard(self)

    def _readable(self, event: int) -> None:
        try:
            peeked = self.connection.recv(MAX_REQUEST, socket.MSG_PEEK)
        except BlockingIOError:
            return
        except OSError:
            peeked = b""
        end = peeked.find(b"\n")
        if end < 0:
            if not peeked or len(peeked) >= MAX_REQUEST:
                self.on_deadline()  # gone, or not a request
            return
        line = self.connection.recv(end + 1)  # not a byte more: then the attach protocol
        self._done()
        try:
            request = json.loads(line)
            if not isinstance(request, dict):
                raise ValueError("a request is a JSON object")
            self.host.begin(request, self.connection)
        except errors.CapsaError as exc:
            self._refuse(str(exc))
        except (ValueError, KeyError, OSError) as exc:
            self._refuse(f"monitor: {exc}")

    def _refuse(self, message: str) -> None:
        try:
            self.connection.setblocking(True)
            self.connection.settimeout(1.0)
            self.connection.sendall(attach.control({"error": message}))
        except OSError:
            pass  # the requester is gone
        self.connection.close()


def serve(config: Config) -> int:
    import gc
    import resource

    from capsa.cgroups.layout import pin_layout
    from capsa.engine import worker
    from capsa.kernel import process as kproc

    _preload()
    kproc.set_child_subreaper()  # every container init ends up our child
    with contextlib.suppress(OSError, CapsaError):  # else each detect reads it again
        pin_layout()
    kproc.set_process_name("capsa-monitor")
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    worker.inherited_nofile = (soft, hard)
    if hard == resource.RLIM_INFINITY or hard > soft:  # a few fds per container
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    for ignored in (signal.SIGPIPE, signal.SIGHUP, signal.SIGINT, signal.SIGTERM):
        signal.signal(ignored, signal.SIG_IGN)  # it holds containers: only SIGKILL ends it
    host = _Host(config)
    host.loop.install_signals()
    with open(os.path.join(host.layout.run, "monitor.pid"), "w") as f:
        f.write(f"{os.getpid()}\n")
    gc.freeze()  # what is here now is shared with every worker: never touch it again
    return host.serve()


# -- what a start's client reads (light: no engine import) ---------------------------------


def wait_started(connection: socket.socket, name: str) -> int:
    """Read the monitor's control frames until the container started; its pid."""
    reader = attach.FrameReader()
    while True:
        data = connection.recv(65536)
        if not data:
            raise ContainerError(f"the monitor of container {name} exited before it started")
        for stream, payload in reader.feed(data):
            if stream != attach.CONTROL:
                continue
            message = attach.decode_control(payload)
            if "error" in message:
                raise start_error(name, str(message["error"]))
            if "started" in message:
                return int(message["started"])


def start_error(name: str, message: str) -> CapsaError:
    """A monitor's error as the typed error it is."""
    return program_error(f"cannot start container {name}: {message}", message)


def program_error(text: str, message: str) -> CapsaError:
    """A runtime's error as the typed error it is: a program that cannot be found or
    run is Docker's exit 127 / 126, anything else 125."""

    if message.startswith("exec: "):
        if "not found" in message or "no such file" in message:
            return CommandNotFound(text)
        if "permission denied" in message:
            return CommandNotInvokable(text)
    return ContainerError(text)


def main(argv: list[str]) -> int:
    root = run_root = None
    args = list(argv)
    while args:
        flag = args.pop(0)
        if flag == "--root" and args:
            root = args.pop(0)
        elif flag == "--run-root" and args:
            run_root = args.pop(0)
        else:
            sys.stderr.write(f"capsa spawner: unknown argument {flag!r}\n")
            return 2
    config = Config.default(root=root, run_root=run_root)
    return serve(config)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
