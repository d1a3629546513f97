"""Real cgroups on this host, each test under its own /capsa-test-<random> cgroup in every
hierarchy; whatever a test leaves there (processes included) is removed afterwards."""

from __future__ import annotations

import os
import signal
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator

import pytest

from capsa.cgroups.layout import CgroupLayout


def _mountpoints() -> list[str]:
    layout = CgroupLayout.detect()
    hierarchies = [*layout.v1, *((layout.unified,) if layout.unified else ())]
    return [h.mount.mountpoint for h in hierarchies]


def _own_dirs() -> list[str]:
    layout = CgroupLayout.detect()
    hierarchies = [*layout.v1, *((layout.unified,) if layout.unified else ())]
    dirs = []
    for h in hierarchies:
        own = h.own_relative
        if own is not None:
            dirs.append(h.mount.mountpoint + own.rstrip("/"))
            dirs.append(h.mount.mountpoint + os.path.dirname(own.rstrip("/")).rstrip("/"))
    return dirs


def _walk(path: str) -> list[str]:
    """`path` and every cgroup below it, deepest first."""
    found = []
    for entry in os.scandir(path):
        if entry.is_dir(follow_symlinks=False):
            found.extend(_walk(entry.path))
    found.append(path)
    return found


def _write(path: str, value: str) -> None:
    try:
        with open(path, "w") as f:
            f.write(value)
    except OSError:
        pass


def _remove_all(paths: list[str]) -> None:
    """Thaw and kill whatever is inside (in every hierarchy first: a task frozen by the
    v1 freezer cannot die, and holds its cgroups in the others), then rmdir bottom-up."""
    cgroups = [c for p in paths if os.path.isdir(p) for c in _walk(p)]
    for cgroup in cgroups:
        _write(os.path.join(cgroup, "freezer.state"), "THAWED")
        _write(os.path.join(cgroup, "cgroup.freeze"), "0")
    errors = []
    for cgroup in cgroups:
        for _ in range(300):
            try:
                with open(os.path.join(cgroup, "cgroup.procs")) as f:
                    pids = [int(x) for x in f.read().split()]
            except FileNotFoundError:
                break
            for pid in pids:
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            try:
                os.rmdir(cgroup)
                break
            except FileNotFoundError:
                break
            except OSError:
                time.sleep(0.01)
        else:
            errors.append(cgroup)
    if errors:
        raise RuntimeError(f"could not remove {errors}")


def leftovers(name: str) -> list[str]:
    found = []
    for base in (*_mountpoints(), *_own_dirs()):
        candidate = os.path.join(base, name)
        if os.path.exists(candidate):
            found.append(candidate)
    return found


@pytest.fixture(scope="session", autouse=True)
def _restore_unified_subtree_control() -> Iterator[None]:
    """capsa enables hugetlb in the unified root's subtree_control, as runc would; put the
    host back as it was when the session ends."""
    layout = CgroupLayout.detect()
    if layout.unified is None or layout.mode != "hybrid":
        yield
        return
    root = layout.unified.mount.mountpoint
    path = os.path.join(root, "cgroup.subtree_control")

    def state() -> tuple[set[str], set[str]]:
        with open(path) as f:
            enabled = set(f.read().split())
        return enabled, {e.name for e in os.scandir(root) if e.is_dir(follow_symlinks=False)}

    enabled_before, children_before = state()
    yield
    enabled_after, children_after = state()
    if not children_after <= children_before:
        return  # someone else's cgroups appeared meanwhile and may use the controllers
    for controller in enabled_after - enabled_before:
        try:
            with open(path, "w") as f:
                f.write(f"-{controller}")
        except OSError:
            pass


@pytest.fixture
def cgroup_name() -> Iterator[str]:
    """A unique top-level cgroup name; everything below it is removed afterwards, in
    every hierarchy, and the test fails if the code under test left anything."""
    name = f"capsa-test-{uuid.uuid4().hex[:12]}"
    yield name
    _remove_all(leftovers(name))


@pytest.fixture
def find_leftovers() -> Callable[[str], list[str]]:
    """The directories named `name` left in any hierarchy (or below our own cgroups)."""
    return leftovers


@pytest.fixture
def children() -> Iterator[list[subprocess.Popen[bytes]]]:
    procs: list[subprocess.Popen[bytes]] = []
    yield procs
    for proc in procs:
        if proc.poll() is None:
            proc.kill()
        try:
            proc.wait(timeout=2)
        except subprocess.TimeoutExpired:
            pass  # frozen: the cgroup cleanup thaws it, and it dies then
