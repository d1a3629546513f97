"""Facts about host processes read from /proc: alive, zombie, start time."""

from __future__ import annotations

import time


def stat_fields(pid: int) -> list[str] | None:
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            data = f.read().decode(errors="replace")
    except (FileNotFoundError, ProcessLookupError):
        return None
    # The command name is in parentheses and may contain spaces or parentheses.
    tail = data[data.rindex(")") + 2 :].split()
    return tail  # tail[0] is the state (field 3), tail[19] the start time (field 22)


def start_time(pid: int) -> int:
    fields = stat_fields(pid)
    return int(fields[19]) if fields else 0


def is_alive(pid: int, expected_start_time: int = 0) -> bool:
    """True while pid runs and is the same process (same start time), not a zombie."""
    if pid <= 0:
        return False
    fields = stat_fields(pid)
    if fields is None or fields[0] in ("Z", "X", "x"):
        return False
    return not (expected_start_time and int(fields[19]) != expected_start_time)


def wait_gone(pid: int, timeout: float) -> bool:
    """Wait up to `timeout` seconds for pid to end; whether it did."""
    deadline = time.monotonic() + timeout
    while is_alive(pid):
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.01)
    return True
