"""The monitor spawner: one small process per run root that forks a monitor for each
container start (a zygote).

Why not fork the monitor from the `capsa` command itself? A monitor outlives the command
and must stay small: forked from a process that has already imported the engine, the
runtime and SQLite, and frozen its objects (gc.freeze), every monitor shares those pages
with its siblings instead of owning a private copy of an interpreter (≈ 4 MB each). It
also saves an interpreter start per container.

It is started on demand by the first command that needs it (double-forked, its own
session), listens on `<run>/monitor.sock`, and exits once it has had no monitor and no
request for IDLE_EXIT seconds. Its monitors do not depend on it: if it dies, they go on.

Requests, one JSON line:
- `{"container": ID, "stdin_once": bool}`: start that container under a new monitor;
- `{"run": SPEC, "stdin_once": bool}`: create a container from SPEC, answer one control
  frame (`{"created": ID, "name": NAME}` or `{"failed": {"type", "message", "hint"}}`),
  then start it as above. `capsa run` asks this way, so that it imports only the flags
  and this module, not the engine.
The connection then belongs to the container's monitor (capsa.engine.hooks), which
speaks the attach protocol on it (capsa.monitor.attach).
"""

from __future__ import annotations

import json
import os
import select
import signal
import socket
import sys
import time
from typing import Any

from capsa import errors
from capsa.config import Config
from capsa.engine.layout import Layout
from capsa.errors import (
    CapsaError,
    CommandNotFound,
    CommandNotInvokable,
    ContainerError,
    Unavailable,
)
from capsa.monitor import attach
from capsa.store._files import FileLock

IDLE_EXIT = 300.0
START_TIMEOUT = 10.0
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
    header = _recv_exactly(connection, attach.HEADER.size)
    stream, size = attach.HEADER.unpack(header)
    if stream != attach.CONTROL or size > attach.MAX_FRAME:
        raise ContainerError("the monitor spawner answered out of protocol")
    message = attach.decode_control(_recv_exactly(connection, size))
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
    first = os.fork()
    if first == 0:  # pragma: no cover - the intermediate child
        try:
            os.setsid()
            if os.fork() == 0:
                null = os.open(os.devnull, os.O_RDWR)
                out = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
                os.dup2(null, 0)
                os.dup2(null, 1)
                os.dup2(out, 2)
                os.closerange(3, 1 << 16)
                os.execv(command[0], command)
        finally:
            os._exit(0)
    os.waitpid(first, 0)


# -- the server ----------------------------------------------------------------------------


def _preload() -> None:
    """Import what monitors run, so that they share it (see the module's notes)."""
    import capsa.engine.hooks
    import capsa.network.netns
    import capsa.network.networks
    import capsa.network.resolv
    import capsa.runtime.create
    import capsa.runtime.delete
    import capsa.runtime.exec
    import capsa.runtime.kill
    import capsa.runtime.start
    import capsa.store.store
    import capsa.transport.store.find  # noqa: F401


def serve(config: Config) -> int:
    import gc

    _preload()
    layout = Layout(config)
    layout.make_dirs()
    listener = attach.listen(layout.spawner_socket, backlog=64)
    with open(os.path.join(layout.run, "monitor.pid"), "w") as f:
        f.write(f"{os.getpid()}\n")
    signal.signal(signal.SIGCHLD, lambda signum, frame: None)
    signal.signal(signal.SIGPIPE, signal.SIG_IGN)
    signal.signal(signal.SIGHUP, signal.SIG_IGN)
    children: set[int] = set()
    last_activity = time.monotonic()
    gc.freeze()  # what is here now is shared with every monitor: never touch it again
    poller = select.poll()
    poller.register(listener.fileno(), select.POLLIN)
    while True:
        try:
            ready = poller.poll(1000)
        except InterruptedError:
            ready = []
        _reap(children)
        if ready:
            last_activity = time.monotonic()
            try:
                connection, _ = listener.accept()
            except (BlockingIOError, InterruptedError):
                continue
            pid = os.fork()
            if pid == 0:  # pragma: no cover - becomes a monitor
                listener.close()
                _monitor(config, connection)
            connection.close()
            children.add(pid)
            continue
        if not children and time.monotonic() - last_activity > IDLE_EXIT:
            # Leave: a client that connects after the unlink starts a new spawner.
            os.unlink(layout.spawner_socket)
            listener.close()
            return 0


def _reap(children: set[int]) -> None:
    while children:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            children.clear()
            return
        if pid == 0:
            return
        children.discard(pid)


def _monitor(config: Config, connection: socket.socket) -> None:
    """In the forked child: read the request, become the container's monitor."""
    code = 0
    try:
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
        connection.settimeout(10)
        request = json.loads(_read_line(connection))
        connection.settimeout(None)
        from capsa.engine.hooks import create_and_monitor, run_container_monitor

        if "run" in request:
            code = create_and_monitor(config, request, connection)
        else:
            run_container_monitor(config, request, connection)
    except errors.CapsaError as exc:
        code = 1
        try:
            connection.sendall(attach.control({"error": str(exc)}))
        except OSError:
            pass
    except BaseException as exc:  # report, never raise out of a forked child
        code = 1
        try:
            connection.sendall(attach.control({"error": f"monitor: {exc}"}))
        except OSError:
            pass  # the requester is gone
        import traceback

        traceback.print_exc()
    finally:
        os._exit(code)


def _read_line(connection: socket.socket) -> bytes:
    """The request line and not a byte more: what follows is the attach protocol."""
    while True:
        peeked = connection.recv(MAX_REQUEST, socket.MSG_PEEK)
        if not peeked:
            raise ConnectionError("the requester went away")
        end = peeked.find(b"\n")
        if end >= 0:
            return connection.recv(end + 1)
        if len(peeked) >= MAX_REQUEST:
            raise ValueError("request line too long")
        time.sleep(0.001)


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
