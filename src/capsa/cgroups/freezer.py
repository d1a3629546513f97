"""Freezing and thawing a cgroup's processes (pause/resume).

v1: freezer.state; writing FROZEN starts freezing, and the state reads FREEZING until
    every task has stopped. A task that keeps forking or sits in an uninterruptible
    sleep can hold it there, so we rewrite FROZEN while polling, thaw briefly now and
    then (as runc does), and on timeout thaw and fail rather than leave it half frozen.
v2: cgroup.freeze; cgroup.events says "frozen 1" once everything has stopped.
"""

from __future__ import annotations

import time

from capsa.cgroups._files import CgroupFiles
from capsa.errors import CapsaError, Timeout

DEFAULT_TIMEOUT = 10.0


def _pause(attempt: int) -> None:
    # Spin briefly first: most cgroups freeze within a millisecond.
    if attempt > 3:
        time.sleep(min(0.0005 * attempt, 0.01))


def freeze_v1(files: CgroupFiles, directory: str, timeout: float = DEFAULT_TIMEOUT) -> None:
    deadline = time.monotonic() + timeout
    attempt = 0
    while True:
        if attempt % 50 == 49:
            files.write(directory, "freezer.state", "THAWED")
            time.sleep(0.01)
        files.write(directory, "freezer.state", "FROZEN")
        state = files.read(directory, "freezer.state").strip()
        if state == "FROZEN":
            return
        if state not in ("FREEZING", "THAWED"):
            raise CapsaError(f"unexpected freezer state {state!r} in {directory}")
        if time.monotonic() > deadline:
            files.write(directory, "freezer.state", "THAWED")
            raise Timeout(
                f"cannot freeze {directory}: still {state} after {timeout:g}s",
                hint="a process may be stuck in an uninterruptible sleep",
            )
        attempt += 1
        _pause(attempt)


def thaw_v1(files: CgroupFiles, directory: str) -> None:
    files.write(directory, "freezer.state", "THAWED")


def is_frozen_v1(files: CgroupFiles, directory: str) -> bool:
    return files.read(directory, "freezer.state").strip() == "FROZEN"


def _frozen_event(files: CgroupFiles, directory: str) -> bool:
    for line in files.read(directory, "cgroup.events").splitlines():
        key, _, value = line.partition(" ")
        if key == "frozen":
            return value.strip() == "1"
    return False


def freeze_v2(files: CgroupFiles, directory: str, timeout: float = DEFAULT_TIMEOUT) -> None:
    files.write(directory, "cgroup.freeze", "1")
    deadline = time.monotonic() + timeout
    attempt = 0
    while not _frozen_event(files, directory):
        if time.monotonic() > deadline:
            files.write(directory, "cgroup.freeze", "0")
            raise Timeout(f"cannot freeze {directory}: not frozen after {timeout:g}s")
        attempt += 1
        _pause(attempt)


def thaw_v2(files: CgroupFiles, directory: str) -> None:
    files.write(directory, "cgroup.freeze", "0")


def is_frozen_v2(files: CgroupFiles, directory: str) -> bool:
    # The requested state, as runc reports it: new tasks may still be on their way.
    return files.read(directory, "cgroup.freeze").strip() == "1"
