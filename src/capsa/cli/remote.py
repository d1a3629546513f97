"""Running a command in the command server (capsa.cli.server): the caller's side.

`run_remote(argv)` sends argv, cwd, umask, the environment and fds 0-2 to the server of
this run root (starting it when there is none), forwards SIGINT, SIGTERM, SIGHUP and
SIGWINCH to the command's process, and returns its exit code; None when the command must
run here instead (no server could be had, or it refused: older code than is installed,
or another namespace). Set CAPSA_NO_SERVER=1 to always run commands in the calling
process.

This module is imported by every `capsa run` and `capsa build`: it uses the interpreter's
low-level modules (`_socket`, `_signal`; capsa.fastjson rather than json, which imports
`re`), whose import costs next to nothing, instead of `socket`, `signal` and `json`.
"""

from __future__ import annotations

import _socket
import os
import sys
import time

from capsa import fastjson
from capsa.detach import start_detached

TYPE_CHECKING = False  # typing itself costs an import
if TYPE_CHECKING:
    import signal as _signal  # the same functions, with type stubs
    from collections.abc import Callable
    from types import FrameType
else:
    import _signal

START_TIMEOUT = 5.0
FORWARDED = (_signal.SIGINT, _signal.SIGTERM, _signal.SIGHUP, _signal.SIGWINCH)
_INT_SIZE = 4


def _socket_path() -> str:
    from capsa.paths import command_roots

    return os.path.join(command_roots()[1], "cli.sock")


def _connect(path: str) -> _socket.socket | None:
    client = _socket.socket(_socket.AF_UNIX, _socket.SOCK_STREAM | _socket.SOCK_CLOEXEC)
    try:
        client.connect(path)
    except OSError:
        client.close()
        return None
    return client


def _start_server(path: str) -> None:
    """`python -m capsa.cli.server RUN_DIR`, detached: its own session, not our child."""
    run_dir = os.path.dirname(path)
    os.makedirs(run_dir, mode=0o700, exist_ok=True)
    start_detached(
        [sys.executable, "-SP", "-m", "capsa.cli.server", run_dir],
        os.path.join(run_dir, "cli-server.log"),
        {**os.environ, "PYTHONPATH": ":".join(sys.path)},
    )


def _server(path: str) -> _socket.socket | None:
    connection = _connect(path)
    if connection is not None:
        return connection
    _start_server(path)
    deadline = time.monotonic() + START_TIMEOUT
    delay = 0.002
    while time.monotonic() < deadline:
        time.sleep(delay)
        connection = _connect(path)
        if connection is not None:
            return connection
        delay = min(delay * 2, 0.05)
    return None


def run_remote(argv: list[str], *, hangup: str = "interrupt") -> int | None:
    """`hangup`: what our death does to the command, "interrupt" (as Ctrl-C) or
    "detach" (it ends, what it started goes on)."""
    if os.environ.get("CAPSA_NO_SERVER") == "1":
        return None
    connection = _server(_socket_path())
    if connection is None:
        return None
    try:
        umask = os.umask(0o022)
        os.umask(umask)
        request = {
            "argv": argv,
            "cwd": os.getcwd(),
            "env": dict(os.environ),
            "umask": umask,
            "hangup": hangup,
        }
        fds = b"".join(fd.to_bytes(_INT_SIZE, sys.byteorder) for fd in (0, 1, 2))
        try:
            connection.sendmsg(
                [fastjson.dumps(request).encode() + b"\n"],
                [(_socket.SOL_SOCKET, _socket.SCM_RIGHTS, fds)],
            )
        except OSError:
            return None
        reader = _Lines(connection)
        first = reader.message()
        if "pid" not in first:
            return None  # stale or refused: run it here
        pid = int(str(first["pid"]))
        previous = {s: _signal.signal(s, _forward(pid)) for s in FORWARDED}
        try:
            done = reader.message()
        finally:
            for signum, handler in previous.items():
                _signal.signal(signum, handler)
        if "exit" in done:
            return int(str(done["exit"]))
        sys.stderr.write("capsa: the command ended without an exit status (killed?)\n")
        return 125
    finally:
        connection.close()


class _Lines:
    """JSON lines read from a connection (a signal that interrupts a read is retried)."""

    def __init__(self, connection: _socket.socket) -> None:
        self.connection = connection
        self.buffer = b""

    def message(self) -> dict[str, object]:
        while b"\n" not in self.buffer:
            try:
                chunk = self.connection.recv(65536)
            except InterruptedError:
                continue
            except OSError:
                return {}
            if not chunk:
                return {}
            self.buffer += chunk
        line, _, self.buffer = self.buffer.partition(b"\n")
        try:
            message = fastjson.loads(line)
        except ValueError:
            return {}
        return message if isinstance(message, dict) else {}


def _forward(pid: int) -> Callable[[int, FrameType | None], None]:
    def handler(signum: int, frame: FrameType | None) -> None:
        try:
            os.kill(pid, signum)
        except ProcessLookupError:
            pass

    return handler
