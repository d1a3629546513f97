"""Helpers for the store's integration tests: performing mounts and finding leftovers."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

from capsa.store.mount import mount_all, unmount_all
from capsa.store.snapshots import Mount


def mounts_under(path: Path) -> list[str]:
    found = []
    with open("/proc/self/mountinfo") as mountinfo:
        for line in mountinfo:
            point = line.split()[4].replace("\\040", " ")
            if point == str(path) or point.startswith(f"{path}/"):
                found.append(point)
    return found


@contextlib.contextmanager
def mounted(mounts: list[Mount], target: Path) -> Iterator[Path]:
    target.mkdir(parents=True, exist_ok=True)
    mount_all(mounts, str(target))
    try:
        yield target
    finally:
        unmount_all(str(target))
