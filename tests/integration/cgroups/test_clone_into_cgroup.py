"""capsa.kernel.clone.fork_into_cgroup on the real kernel: the child is born in the cgroup."""

from __future__ import annotations

import errno
import os
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from capsa.cgroups.layout import CgroupLayout
from capsa.kernel.clone import fork_into_cgroup


@pytest.fixture
def v2_cgroup() -> Iterator[Path]:
    layout = CgroupLayout.detect()
    if layout.unified is None:
        pytest.skip("no cgroup v2 hierarchy on this host")
    path = Path(layout.unified.mount.mountpoint) / f"capsa-test-clone-{uuid.uuid4().hex[:8]}"
    path.mkdir()
    try:
        yield path
    finally:
        for delay in (0.0, 0.01, 0.05, 0.1, 0.5):
            time.sleep(delay)
            try:
                path.rmdir()
                break
            except OSError:
                continue


def _in_child(body: Callable[[], int]) -> int:
    """Run body() in a forked (so single-threaded) child; its exit status."""
    pid = os.fork()
    if pid == 0:
        code = 1
        try:
            code = body()
        finally:
            os._exit(code)
    return os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1])


def test_the_child_is_born_in_the_cgroup(v2_cgroup: Path) -> None:
    relative = "/" + v2_cgroup.name

    def body() -> int:
        fd = os.open(v2_cgroup, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        child = fork_into_cgroup(fd)
        if child == 0:
            lines = Path("/proc/self/cgroup").read_text().splitlines()
            os._exit(0 if f"0::{relative}" in lines else 3)
        os.close(fd)
        status = os.waitstatus_to_exitcode(os.waitpid(child, 0)[1])
        # The caller itself stays where it was.
        own = Path("/proc/self/cgroup").read_text().splitlines()
        return status if f"0::{relative}" not in own else 4

    assert _in_child(body) == 0


def test_a_caller_with_threads_is_refused(v2_cgroup: Path) -> None:
    stop = threading.Event()
    thread = threading.Thread(target=stop.wait)
    thread.start()
    try:
        fd = os.open(v2_cgroup, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        try:
            with pytest.raises(OSError) as info:
                fork_into_cgroup(fd)
        finally:
            os.close(fd)
    finally:
        stop.set()
        thread.join()
    assert info.value.errno == errno.EINVAL
    assert (v2_cgroup / "cgroup.procs").read_text() == ""


def test_a_bad_descriptor_forks_nothing(v2_cgroup: Path) -> None:
    def body() -> int:
        fd = os.open("/", os.O_RDONLY | os.O_DIRECTORY)  # not a cgroup
        try:
            fork_into_cgroup(fd)
        except OSError as exc:
            return 0 if exc.errno in (errno.EBADF, errno.EINVAL, errno.EOPNOTSUPP) else 5
        return 6  # only the parent gets here if something was forked: the child _exits

    assert _in_child(body) == 0
