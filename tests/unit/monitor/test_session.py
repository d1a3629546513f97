"""Sessions in one event loop, with real processes: a worker forked per start that
starts an `sh` as the "container" (through an intermediate, as runc does, so that it
reparents to this process, made a child subreaper for the test) and reports its pid, as
capsa.engine.worker does."""

from __future__ import annotations

import array
import json
import os
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from capsa.kernel import process as kproc
from capsa.monitor import attach
from capsa.monitor.loop import EventLoop
from capsa.monitor.session import Session, SessionOptions, exit_code


@pytest.fixture(scope="module", autouse=True)
def subreaper() -> Iterator[None]:
    kproc.set_child_subreaper()
    yield
    kproc.prctl(36, 0)  # PR_SET_CHILD_SUBREAPER off


class ShellHooks:
    """Each start runs the next script of `scripts`; exits are recorded; `restarts`
    starts are wanted after the first."""

    def __init__(self, scripts: list[str], log: str = "", *, restarts: int = 0,
                 fail: str = "", report_after: float = 0.0) -> None:  # fmt: skip
        self.scripts = scripts
        self.log = log
        self.restarts = restarts
        self.fail = fail
        self.report_after = report_after
        self.statuses: list[int] = []
        self.finished_with: int | None = None
        self.started_pids: list[int] = []
        self.reported_fds: list[int] = []

    def launch(self, stdio: list[int], console_socket: str | None, report: socket.socket) -> int:
        script = self.scripts[min(len(self.statuses), len(self.scripts) - 1)]
        pid = os.fork()
        if pid == 0:  # pragma: no cover - the worker
            try:
                if self.fail:
                    report.sendmsg([json.dumps({"error": self.fail}).encode()])
                    os._exit(1)
                for target, fd in enumerate(stdio):
                    os.dup2(fd, target)
                # As runc does: an intermediate that forks the init and exits, so the
                # init is the subreaper's child at once.
                pids = os.pipe()
                if os.fork() == 0:
                    init = os.fork()
                    if init == 0:
                        os.execv("/bin/sh", ["sh", "-c", script])
                    os.write(pids[1], str(init).encode())
                    os._exit(0)
                init = int(os.read(pids[0], 32))
                time.sleep(self.report_after)
                held = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
                fds = array.array("i", [held.fileno()]).tobytes()
                report.sendmsg(
                    [json.dumps({"started": init}).encode()],
                    [(socket.SOL_SOCKET, socket.SCM_RIGHTS, fds)],
                )
            finally:
                os._exit(0)
        return pid

    def reported(self, message: dict[str, Any], fds: list[int]) -> None:
        self.reported_fds.extend(fds)

    def attach_path(self) -> str | None:
        return ""

    def log_target(self) -> tuple[str, int, int] | None:
        return (self.log, 0, 1) if self.log else None

    def started(self, pid: int) -> None:
        self.started_pids.append(pid)

    def exited(self, status: int) -> float | None:
        self.statuses.append(status)
        return 0.05 if len(self.statuses) <= self.restarts else None

    def restart_cancelled(self) -> bool:
        return False

    def finished(self, code: int) -> None:
        self.finished_with = code
        for fd in self.reported_fds:
            os.close(fd)

    def next_timer(self) -> float | None:
        return None

    def on_timer(self) -> int:
        return 0

    def child_exited(self, pid: int, status: int) -> None:
        pass


def run_sessions(loop: EventLoop, sessions: set[Session], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while sessions:
        assert time.monotonic() < deadline, "the sessions did not end"
        loop.run_once(0.1)


def frames(sock: socket.socket) -> list[tuple[int, bytes]]:
    sock.settimeout(5)
    reader = attach.FrameReader()
    found: list[tuple[int, bytes]] = []
    while True:
        data = sock.recv(65536)
        if not data:
            return found
        found.extend(reader.feed(data))


def controls(found: list[tuple[int, bytes]]) -> list[dict[str, Any]]:
    return [attach.decode_control(p) for s, p in found if s == attach.CONTROL]


def new_session(loop: EventLoop, sessions: set[Session], hooks: ShellHooks,
                **options: Any) -> socket.socket:  # fmt: skip
    mine, theirs = socket.socketpair()
    session = Session(loop, hooks, SessionOptions(**options), first_client=theirs,
                      on_done=sessions.discard)  # fmt: skip
    mine.sendall(attach.control({"attach": {"stdin": True, "stdout": True, "stderr": True}}))
    sessions.add(session)
    session.start()
    return mine


@pytest.fixture
def loop() -> EventLoop:
    loop = EventLoop()
    loop.install_signals()
    return loop


def test_output_log_and_exit_of_several_containers_in_one_loop(
    loop: EventLoop, tmp_path: Path
) -> None:
    sessions: set[Session] = set()
    clients = []
    hooks = []
    for n in range(3):
        h = ShellHooks([f"echo out{n}; echo err{n} >&2; exit {n + 3}"], str(tmp_path / f"{n}.log"))
        hooks.append(h)
        clients.append(new_session(loop, sessions, h))
    run_sessions(loop, sessions)
    for n, (h, client) in enumerate(zip(hooks, clients, strict=True)):
        found = frames(client)
        assert (attach.STDOUT, f"out{n}\n".encode()) in found
        assert (attach.STDERR, f"err{n}\n".encode()) in found
        messages = controls(found)
        assert messages[0] == {"started": h.started_pids[0]}
        assert messages[-1] == {"exit": n + 3}
        assert [exit_code(s) for s in h.statuses] == [n + 3]
        assert h.finished_with == n + 3
        lines = [json.loads(line) for line in (tmp_path / f"{n}.log").read_text().splitlines()]
        assert sorted((e["stream"], e["log"]) for e in lines) == [
            ("stderr", f"err{n}\n"),
            ("stdout", f"out{n}\n"),
        ]


def test_stdin_once_closes_the_containers_stdin(loop: EventLoop) -> None:
    sessions: set[Session] = set()
    hooks = ShellHooks(["cat; echo done"])
    client = new_session(loop, sessions, hooks, stdin_open=True, stdin_once=True)
    client.sendall(attach.frame(attach.STDIN, b"hello\n"))
    client.sendall(attach.control({"close_stdin": True}))
    run_sessions(loop, sessions)
    output = b"".join(p for s, p in frames(client) if s == attach.STDOUT)
    assert output == b"hello\ndone\n"


def test_restart_is_another_worker_and_exit_before_report_is_not_lost(
    loop: EventLoop,
) -> None:
    sessions: set[Session] = set()
    # The init exits before its worker reports it: its exit is kept until claimed.
    hooks = ShellHooks(["exit 7", "exit 0"], restarts=1, report_after=0.3)
    client = new_session(loop, sessions, hooks)
    run_sessions(loop, sessions)
    assert [exit_code(s) for s in hooks.statuses] == [7, 0]
    assert len(set(hooks.started_pids)) == 2
    assert hooks.finished_with == 0
    assert controls(frames(client)) == [{"started": hooks.started_pids[0]}, {"exit": 7}]


def test_a_failed_start_is_reported_and_finished(loop: EventLoop) -> None:
    sessions: set[Session] = set()
    hooks = ShellHooks(["true"], fail="exec: no such file")
    client = new_session(loop, sessions, hooks)
    run_sessions(loop, sessions)
    assert controls(frames(client)) == [{"error": "exec: no such file"}]
    assert hooks.finished_with == 125 and not hooks.started_pids


def test_the_reported_fds_reach_the_hooks(loop: EventLoop) -> None:
    sessions: set[Session] = set()
    hooks = ShellHooks(["sleep 0.2"])
    client = new_session(loop, sessions, hooks)
    while not hooks.started_pids:
        loop.run_once(0.1)
    assert len(hooks.reported_fds) == 1
    with socket.socket(fileno=os.dup(hooks.reported_fds[0])) as held:
        assert held.type == socket.SOCK_DGRAM
    run_sessions(loop, sessions)
    client.close()


class BrokenExitHooks(ShellHooks):
    def exited(self, status: int) -> float | None:
        self.statuses.append(status)
        raise RuntimeError("the state database went away")


def test_a_hook_that_raises_does_not_leave_the_session_stuck(
    loop: EventLoop, capsys: pytest.CaptureFixture[str]
) -> None:
    sessions: set[Session] = set()
    hooks = BrokenExitHooks(["exit 4"])
    client = new_session(loop, sessions, hooks)
    run_sessions(loop, sessions)
    assert hooks.finished_with == 4
    assert controls(frames(client))[-1] == {"exit": 4}
    assert "the state database went away" in capsys.readouterr().err
