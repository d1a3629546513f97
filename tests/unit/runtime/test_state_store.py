from __future__ import annotations

import os
import threading
from pathlib import Path

import pytest

from capsa.errors import AlreadyExists, InvalidArgument, NotFound
from capsa.runtime.state import ContainerState, StateStore, write_atomically


def sample(container_id: str = "c1") -> ContainerState:
    return ContainerState(
        id=container_id,
        bundle="/b",
        rootfs="/b/rootfs",
        pid=42,
        pid_start_time=7,
        created="2026-01-01T00:00:00Z",
        owner="root",
        annotations={"a": "b"},
        cgroup_paths={"memory": "/sys/x"},
    )


def test_save_and_load_round_trip(tmp_path: Path) -> None:
    store = StateStore(tmp_path)
    store.reserve("c1")
    os.mkfifo(store.exec_fifo("c1"))  # created, not started
    store.save(sample())
    loaded = store.load("c1")
    assert loaded.to_json() == sample().to_json()
    assert store.ids() == ["c1"]


def test_started_is_told_by_the_exec_fifo(tmp_path: Path) -> None:
    # `start` removes the fifo as it releases the init, and does not write the state again.
    store = StateStore(tmp_path)
    store.reserve("c1")
    os.mkfifo(store.exec_fifo("c1"))
    store.save(sample())
    assert store.load("c1").started is False
    os.unlink(store.exec_fifo("c1"))
    assert store.load("c1").started is True


def test_reserve_refuses_a_taken_id(tmp_path: Path) -> None:
    store = StateStore(tmp_path)
    store.reserve("c1")
    with pytest.raises(AlreadyExists):
        store.reserve("c1")


def test_unknown_container(tmp_path: Path) -> None:
    with pytest.raises(NotFound, match="'ghost' does not exist"):
        StateStore(tmp_path).load("ghost")
    with pytest.raises(NotFound), StateStore(tmp_path).locked("ghost"):
        pass


def test_ids_that_would_escape_the_root_are_refused(tmp_path: Path) -> None:
    with pytest.raises(InvalidArgument):
        StateStore(tmp_path).reserve("../escape")


def test_release_removes_everything(tmp_path: Path) -> None:
    store = StateStore(tmp_path)
    directory = store.reserve("c1")
    store.save(sample())
    os.mkfifo(store.exec_fifo("c1"))
    Path(directory, "sub").mkdir()
    store.release("c1")
    assert not Path(directory).exists()
    assert store.ids() == []


def test_atomic_write_leaves_no_temporary_file(tmp_path: Path) -> None:
    target = tmp_path / "f"
    write_atomically(str(target), b"one")
    write_atomically(str(target), b"two")
    assert target.read_bytes() == b"two"
    assert os.listdir(tmp_path) == ["f"]


def test_lock_serialises_operations(tmp_path: Path) -> None:
    store = StateStore(tmp_path)
    store.reserve("c1")
    order: list[str] = []
    inside = threading.Event()
    release = threading.Event()

    def holder() -> None:
        with store.locked("c1"):
            order.append("first-in")
            inside.set()
            release.wait(5)
            order.append("first-out")

    def waiter() -> None:
        inside.wait(5)
        with store.locked("c1"):
            order.append("second-in")

    threads = [threading.Thread(target=holder), threading.Thread(target=waiter)]
    for thread in threads:
        thread.start()
    inside.wait(5)
    release.set()
    for thread in threads:
        thread.join(5)
    assert order == ["first-in", "first-out", "second-in"]
    assert os.listdir(store.container_dir("c1")) == []  # the directory itself is locked
