"""`kill`: send a signal to the container's init, or with --all to all its processes."""

from __future__ import annotations

import os

from capsa.errors import Conflict, InvalidArgument
from capsa.kernel import process as kproc
from capsa.runtime.container import STOPPED, Container
from capsa.runtime.procinfo import start_time
from capsa.runtime.state import StateStore


def parse_signal(value: str) -> int:
    """`9`, `KILL`, `SIGKILL`, `sigkill` -> 9; `RTMIN+3` too."""
    import signal  # only here: the module imports enum

    text = value.strip().upper()
    if text.isdigit():
        number = int(text)
        if not 0 < number < signal.NSIG:
            raise InvalidArgument(f"invalid signal {value!r}: out of range 1..{signal.NSIG - 1}")
        return number
    if not text.startswith("SIG"):
        text = "SIG" + text
    if text.startswith("SIGRTMIN") or text.startswith("SIGRTMAX"):
        base = signal.SIGRTMIN if text.startswith("SIGRTMIN") else signal.SIGRTMAX
        rest = text[8:]
        offset = int(rest) if rest and rest.lstrip("+-").isdigit() else 0
        return int(base) + offset
    try:
        return int(signal.Signals[text])
    except KeyError:
        raise InvalidArgument(
            f"invalid signal {value!r}", hint="use a name like TERM or a number"
        ) from None


def kill_container(
    store: StateStore, container_id: str, sig: int, *, all_processes: bool = False
) -> None:
    container = Container.load(store, container_id)
    status = container.status()
    if all_processes:
        container.cgroup().kill_all(sig)
        return
    if status == STOPPED:
        raise Conflict(f"cannot kill container {container_id!r}: it is not running")
    _signal_init(container, sig)


def _signal_init(container: Container, sig: int) -> None:
    """Signal through a pidfd checked against the init's start time, so a recycled PID
    never receives a signal meant for the container."""
    pid = container.state.pid
    try:
        pidfd = kproc.pidfd_open(pid)
    except OSError:
        raise Conflict(f"cannot kill container {container.id!r}: it is not running") from None
    try:
        if start_time(pid) != container.state.pid_start_time:
            raise Conflict(f"cannot kill container {container.id!r}: it is not running")
        kproc.pidfd_send_signal(pidfd, sig)
    finally:
        os.close(pidfd)
