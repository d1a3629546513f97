"""The engine's pieces of `capsa system reset` that need no root: which directory is a
capsa root, the mounts under one, emptying one, and asking the monitor host to leave (a
fake host on a real socket)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from capsa.config import Config
from capsa.engine import root_dirs
from capsa.engine.layout import Layout
from capsa.engine.spawner import stop_host
from capsa.errors import Conflict, InvalidArgument
from capsa.monitor import attach

MOUNTINFO = """\
22 1 8:1 / / rw,relatime shared:1 - ext4 /dev/sda1 rw
30 22 0:40 / /var/lib/capsa rw shared:5 - ext4 /dev/sdb1 rw
31 30 0:41 / /var/lib/capsa/engine/containers/abc/rootfs rw - overlay overlay rw
32 31 0:42 / /var/lib/capsa/engine/containers/abc/rootfs/data rw - ext4 /dev/sda1 rw
33 22 0:43 / /var/lib/capsa-other/x rw - tmpfs tmpfs rw
34 22 0:44 / /var/lib/capsa/volumes/with\\040space/_data rw - tmpfs tmpfs rw
"""


def test_mounts_under_a_root_come_deepest_last_mounted_first() -> None:
    assert root_dirs.mounts_under(MOUNTINFO, "/var/lib/capsa") == [
        "/var/lib/capsa/volumes/with space/_data",
        "/var/lib/capsa/engine/containers/abc/rootfs/data",
        "/var/lib/capsa/engine/containers/abc/rootfs",
    ]  # not the root's own disk, nor another root that shares its prefix
    assert root_dirs.mounts_under(MOUNTINFO, "/var/lib/capsa/") == root_dirs.mounts_under(
        MOUNTINFO, "/var/lib/capsa"
    )
    assert root_dirs.mounts_under(MOUNTINFO, "/srv") == []


def test_a_missing_empty_or_capsa_directory_may_be_reset(tmp_path: Path) -> None:
    root_dirs.check_ours(str(tmp_path / "missing"), root_dirs.ROOT_MARKERS)
    root_dirs.check_ours(str(tmp_path), root_dirs.ROOT_MARKERS)
    (tmp_path / "storage").mkdir()
    (tmp_path / "something-newer").mkdir()
    root_dirs.check_ours(str(tmp_path), root_dirs.ROOT_MARKERS)


def test_a_directory_that_is_not_capsas_is_refused(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("mine")
    with pytest.raises(InvalidArgument, match="does not look like a capsa root"):
        root_dirs.check_ours(str(tmp_path), root_dirs.ROOT_MARKERS)
    with pytest.raises(InvalidArgument, match="is not a directory"):
        root_dirs.check_ours(str(tmp_path / "notes.txt"), root_dirs.ROOT_MARKERS)
    with pytest.raises(InvalidArgument):
        root_dirs.check_ours("/", ("usr", "etc"))


def test_emptying_keeps_the_directory_and_removes_all_in_it(tmp_path: Path) -> None:
    (tmp_path / "engine" / "containers" / "abc").mkdir(parents=True)
    (tmp_path / "engine" / "engine.db").write_text("x")
    (tmp_path / "storage").mkdir()
    readonly = tmp_path / "storage" / "ro"
    readonly.mkdir()
    (readonly / "f").write_text("x")
    readonly.chmod(0o555)
    outside = tmp_path.parent / f"{tmp_path.name}-outside"
    outside.mkdir()
    (outside / "kept").write_text("x")
    (tmp_path / "link").symlink_to(outside)
    try:
        assert root_dirs.empty(str(tmp_path)) == []
        assert os.listdir(tmp_path) == []
        assert (outside / "kept").exists()  # a symlink is removed, never followed
    finally:
        (outside / "kept").unlink()
        outside.rmdir()
    assert root_dirs.empty(str(tmp_path / "missing")) == []


# -- the monitor host's exit request ----------------------------------------------------


class FakeHost:
    """Listens where the monitor host does and answers exit requests from a script."""

    def __init__(self, layout: Layout, answers: list[dict[str, int]]) -> None:
        os.makedirs(layout.run, exist_ok=True)
        self.listener = attach.listen(layout.spawner_socket)
        self.answers = answers
        self.requests: list[bytes] = []
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        while True:
            try:
                connection, _ = self.listener.accept()
            except OSError:
                return
            with connection:
                self.requests.append(connection.recv(1024))
                answer = self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]
                connection.sendall(attach.control(answer))

    def close(self) -> None:
        self.listener.shutdown(socket.SHUT_RDWR)
        self.listener.close()
        self.thread.join()


@pytest.fixture
def layout(tmp_path: Path) -> Layout:
    run = tmp_path / "run"
    return Layout(Config(root=tmp_path, run_root=run, runtime_root=run / "runtime"))


@pytest.fixture
def ended() -> Iterator[subprocess.Popen[bytes]]:
    """A process that ends soon after it is asked about: the host on its way out."""
    process = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(0.3)"])
    yield process
    process.wait()


def test_no_host_is_nothing_to_stop(layout: Layout) -> None:
    stop_host(layout, timeout=1.0)


def test_a_busy_host_is_asked_again_until_it_leaves(
    layout: Layout, ended: subprocess.Popen[bytes]
) -> None:
    host = FakeHost(layout, [{"busy": 1}, {"busy": 1}, {"exited": ended.pid}])
    try:
        stop_host(layout, timeout=10.0)
    finally:
        host.close()
    assert host.requests == [b'{"exit": true}\n'] * 3
    assert ended.poll() is not None or ended.wait(1) is not None


def test_a_host_that_stays_busy_is_a_conflict(layout: Layout) -> None:
    host = FakeHost(layout, [{"busy": 2}])
    try:
        with pytest.raises(Conflict, match="still holds 2 container session"):
            stop_host(layout, timeout=0.3)
    finally:
        host.close()
