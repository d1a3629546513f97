"""Running a command in the command server (capsa.cli.server): the caller's side.

`run_remote(argv)` sends argv, cwd, the environment and fds 0-2 to the server of this
run root (starting it when there is none), forwards SIGINT, SIGTERM and SIGHUP to the
command's process, and returns its exit code; None when the command must run here
instead (no server could be had, or it runs older code than is installed). Set
CAPSA_NO_SERVER=1 to always run commands in the calling process.
"""

from __future__ import annotations

import os
import signal
import socket
import sys
import time

from capsa import fastjson as json  # not the json package: its import pulls in re

TYPE_CHECKING = False  # typing itself costs an import: this module is on every call
if TYPE_CHECKING:
    from collections.abc import Callable
    from types import FrameType
    from typing import IO

START_TIMEOUT = 5.0
FORWARDED = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGWINCH)


def _socket_path() -> str:
    from capsa.paths import command_roots

    return os.path.join(command_roots()[1], "cli.sock")


def _connect(path: str) -> socket.socket | None:
    client = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM | socket.SOCK_CLOEXEC)
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
    first = os.fork()
    if first == 0:  # pragma: no cover - the intermediate child
        try:
            os.setsid()
            if os.fork() == 0:
                null = os.open(os.devnull, os.O_RDWR)
                log = os.open(
                    os.path.join(run_dir, "cli-server.log"),
                    os.O_WRONLY | os.O_CREAT | os.O_APPEND,
                    0o600,
                )
                os.dup2(null, 0)
                os.dup2(null, 1)
                os.dup2(log, 2)
                os.closerange(3, 1 << 16)
                command = [sys.executable, "-SP", "-m", "capsa.cli.server", run_dir]
                os.execve(command[0], command, {**os.environ, "PYTHONPATH": ":".join(sys.path)})
        finally:
            os._exit(0)
    os.waitpid(first, 0)


def _server(path: str) -> socket.socket | None:
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
    path = _socket_path()
    connection = _server(path)
    if connection is None:
        return None
    with connection:
        umask = os.umask(0o022)
        os.umask(umask)
        request = {
            "argv": argv,
            "cwd": os.getcwd(),
            "env": dict(os.environ),
            "umask": umask,
            "hangup": hangup,
        }
        try:
            connection.sendmsg(
                [json.dumps(request).encode() + b"\n"],
                [(socket.SOL_SOCKET, socket.SCM_RIGHTS, _fds())],
            )
        except OSError:
            return None
        reader = connection.makefile("rb")
        first = _message(reader)
        if "pid" not in first:
            return None  # stale or refused: run it here
        pid = int(str(first["pid"]))
        previous = {s: signal.signal(s, _forward(pid)) for s in FORWARDED}
        try:
            done = _message(reader)
        finally:
            for signum, handler in previous.items():
                signal.signal(signum, handler)
        if "exit" in done:
            return int(str(done["exit"]))
        sys.stderr.write("capsa: the command ended without an exit status (killed?)\n")
        return 125


def _fds() -> bytes:
    import array

    return array.array("i", [0, 1, 2]).tobytes()


def _message(reader: IO[bytes]) -> dict[str, object]:
    while True:
        try:
            line = reader.readline()
            break
        except InterruptedError:
            continue
    try:
        message = json.loads(line) if line else {}
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
