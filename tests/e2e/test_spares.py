"""The children that the command server and the monitor host fork ahead of the next
`capsa run` (see capsa.cli.server._Spare and capsa.engine.worker): they take that run,
hold nothing of what their parent held for other commands and containers, and never
outlive their parent."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Callable

from e2e_harness import Capsa


def _children(pid: int) -> list[int]:
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                fields = f.read().rpartition(")")[2].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            found.append(int(entry))
    return found


def _same_program(pid: int) -> Callable[[int], bool]:
    with open(f"/proc/{pid}/cmdline", "rb") as f:
        program = f.read()

    def check(child: int) -> bool:
        try:
            with open(f"/proc/{child}/cmdline", "rb") as f:
                return f.read() == program
        except OSError:
            return False

    return check


def _spare_of(pid: int, timeout: float = 5.0) -> int:
    """The one child of `pid` that runs its program and waits (the spare)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        spares = [child for child in _children(pid) if _same_program(pid)(child)]
        if len(spares) == 1:
            return spares[0]
        time.sleep(0.02)
    raise AssertionError(f"process {pid} has no spare child: {_children(pid)}")


def _gone(pid: int, timeout: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with open(f"/proc/{pid}/stat") as f:
                if f.read().rpartition(")")[2].split()[0] == "Z":
                    return True
        except OSError:
            return True
        time.sleep(0.02)
    return False


def _descriptors(pid: int) -> list[str]:
    base = f"/proc/{pid}/fd"
    return [os.readlink(f"{base}/{name}") for name in os.listdir(base) if int(name) > 2]


def _pid_file(capsa: Capsa, name: str) -> int:
    return int((capsa.root / "run" / name).read_text())


def _server_pid(capsa: Capsa) -> int:
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/cmdline", "rb") as f:
                    words = f.read().split(b"\0")
            except OSError:
                continue
            if b"capsa.cli.server" in words and str(capsa.root / "run").encode() in words:
                return int(entry)
    raise AssertionError("no command server runs for this root")


def test_the_monitor_hosts_spare_takes_the_next_start_and_holds_nothing_of_others(
    capsa: Capsa,
) -> None:
    # A container whose stdin the host holds open, and a published port: a spare forked
    # now must hold neither (the stdin would never end, the port would stay bound).
    capsa(
        "run", "-d", "-i", "-p", "127.0.0.1:18080:80", "--name", "holder", "busybox", "sleep", "600"
    )
    capsa.wait_for("holder", lambda s: s["Running"])
    host = _pid_file(capsa, "monitor.pid")
    spare = _spare_of(host)
    held = _descriptors(spare)
    assert not [fd for fd in held if fd.startswith("pipe:")], held
    assert len([fd for fd in held if fd.startswith("socket:")]) == 1, held  # its own channel
    assert all(fd.startswith("socket:") or ".db" in fd for fd in held), held

    done = capsa("run", "--rm", "-i", "busybox", "sh", "-c", "cat; echo done", input=b"in\n")
    assert done.stdout == "in\ndone\n"
    assert _gone(spare)  # it was the worker of that run, and is done
    assert _spare_of(host) != spare  # and the host has forked the next one
    capsa("rm", "-f", "holder")


def test_the_command_servers_spare_runs_the_next_command_and_dies_with_the_server(
    capsa: Capsa,
) -> None:
    capsa("run", "--rm", "busybox", "true")
    server = _server_pid(capsa)
    spare = _spare_of(server)
    done = capsa("run", "--rm", "busybox", "sh", "-c", "echo $0 && exit 3", code=3)
    assert done.stdout == "sh\n"
    assert _gone(spare)
    spare = _spare_of(server)
    os.kill(server, signal.SIGKILL)
    assert _gone(spare), "a spare outlived its server"
    capsa("run", "--rm", "busybox", "true")  # a new server
