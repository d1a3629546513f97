"""create, add_process, pids, freeze/thaw, kill_all, stats, destroy on fake hosts."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import pytest
from cgroups_fakehost import FakeHost, created, manager_for

from capsa.cgroups import CgroupStats, load_manager
from capsa.errors import Conflict, NotFound, PermissionDenied, Timeout, Unavailable


def test_create_makes_every_directory_and_is_idempotent(hybrid: FakeHost) -> None:
    m = manager_for(hybrid)
    m.create()
    for path in set(m.paths().values()):
        assert os.path.isdir(path)
    hybrid.files.writes.clear()
    m.create()
    assert hybrid.files.writes == []


def test_v2_create_enables_controllers_in_every_ancestor(v2: FakeHost) -> None:
    m = manager_for(v2, "/a/b/ctr")
    m.create()
    assert [p for p, _ in v2.files.writes] == [
        v2.path("", "/cgroup.subtree_control"),
        v2.path("", "/a/cgroup.subtree_control"),
        v2.path("", "/a/b/cgroup.subtree_control"),
    ]
    assert set(v2.files.written("subtree_control")[0].split()) == {
        "+cpuset",
        "+cpu",
        "+io",
        "+memory",
        "+hugetlb",
        "+pids",
        "+rdma",
    }


def test_v2_enabling_falls_back_to_one_controller_at_a_time(v2: FakeHost) -> None:
    m = manager_for(v2)
    real_write = v2.files.write

    def write(directory: str, name: str, value: str, *, field: str | None = None) -> None:
        if name == "cgroup.subtree_control" and "+cpu " in value + " ":
            v2.files.writes.append((f"{directory}/{name}", value))
            raise Unavailable("no")
        real_write(directory, name, value, field=field)

    v2.files.write = write  # type: ignore[method-assign]
    m.create()
    per_controller = [v for v in v2.files.written(f"{v2.root}/cgroup.subtree_control")[1:]]
    assert "+memory" in per_controller and "+cpu" in per_controller


def test_add_process_joins_every_distinct_directory(v1: FakeHost) -> None:
    m = created(v1)
    m.add_process(4242)
    written = v1.files.writes
    assert all(value == "4242" and path.endswith("/cgroup.procs") for path, value in written)
    # cpu and cpuacct share one directory on this host, as do net_cls and net_prio.
    assert len(written) == len(set(m.paths().values())) == 10


def test_enter_v1_moves_the_calling_thread_in_every_v1_directory(hybrid: FakeHost) -> None:
    m = created(hybrid)
    hybrid.files.writes.clear()
    m.enter_v1()
    written = hybrid.files.writes
    # "0" to tasks: the calling thread alone, without the kernel's threadgroup lock.
    assert all(value == "0" and path.endswith("/tasks") for path, value in written)
    v1_directories = {p for k, p in m.paths().items() if k != "unified"}
    assert {os.path.dirname(path) for path, _ in written} == v1_directories
    assert len(written) == len(v1_directories)


def test_add_process_to_the_unified_hierarchy_alone(hybrid: FakeHost) -> None:
    m = created(hybrid)
    hybrid.files.writes.clear()
    m.add_process(4242, v1=False)
    assert hybrid.files.writes == [(f"{m.paths()['unified']}/cgroup.procs", "4242")]


def test_enter_v1_on_a_v2_host_writes_nothing(v2: FakeHost) -> None:
    m = created(v2)
    v2.files.writes.clear()
    m.enter_v1()
    assert v2.files.writes == []


def test_enter_v1_drops_the_systemd_tracker_it_may_not_join(hybrid: FakeHost) -> None:
    m = created(hybrid)
    real_write = hybrid.files.write

    def write(directory: str, name: str, value: str, *, field: str | None = None) -> None:
        if "/systemd/" in directory + "/":
            raise PermissionDenied("no")
        real_write(directory, name, value, field=field)

    hybrid.files.write = write  # type: ignore[method-assign]
    m.enter_v1()
    assert "name=systemd" not in m.paths()


def test_add_process_before_create(hybrid: FakeHost) -> None:
    m = manager_for(hybrid)
    with pytest.raises(NotFound, match="create it first"):
        m.add_process(1)


def test_pids_are_collected_recursively(hybrid: FakeHost) -> None:
    m = created(hybrid)
    top = Path(hybrid.path("freezer", "/capsa/ctr"))
    (top / "cgroup.procs").write_text("10\n11\n")
    (top / "sub" / "deeper").mkdir(parents=True)
    (top / "sub" / "cgroup.procs").write_text("12\n")
    (top / "sub" / "deeper" / "cgroup.procs").write_text("13\n10\n")
    assert m.pids() == [10, 11, 12, 13]


def test_pids_of_a_destroyed_cgroup(hybrid: FakeHost) -> None:
    assert manager_for(hybrid).pids() == []


def test_freeze_and_thaw_on_v1(hybrid: FakeHost) -> None:
    m = created(hybrid)
    assert not m.is_frozen()
    m.freeze()
    assert m.is_frozen()
    assert hybrid.read("freezer", "/capsa/ctr", "freezer.state") == "FROZEN"
    m.thaw()
    assert not m.is_frozen()
    assert hybrid.files.written("freezer.state") == ["FROZEN", "THAWED"]


def test_freeze_and_thaw_on_v2(v2: FakeHost) -> None:
    m = created(v2)
    m.freeze()
    assert m.is_frozen()
    m.thaw()
    assert not m.is_frozen()
    assert v2.files.written("cgroup.freeze") == ["1", "0"]


def test_a_freeze_that_never_completes_times_out_and_thaws(hybrid: FakeHost) -> None:
    m = created(hybrid)
    m._freeze_timeout = 0.05
    real_write = hybrid.files.write

    def stuck(directory: str, name: str, value: str, *, field: str | None = None) -> None:
        real_write(directory, name, "FREEZING" if value == "FROZEN" else value, field=field)

    hybrid.files.write = stuck  # type: ignore[method-assign]
    with pytest.raises(Timeout, match="cannot freeze"):
        m.freeze()
    assert hybrid.read("freezer", "/capsa/ctr", "freezer.state") == "THAWED"


def test_v2_freeze_timeout(v2: FakeHost) -> None:
    m = created(v2)
    m._freeze_timeout = 0.05
    real_write = v2.files.write

    def never(directory: str, name: str, value: str, *, field: str | None = None) -> None:
        real_write(directory, name, value, field=field)
        if name == "cgroup.freeze":
            Path(directory, "cgroup.events").write_text("populated 1\nfrozen 0\n")

    v2.files.write = never  # type: ignore[method-assign]
    with pytest.raises(Timeout):
        m.freeze()
    assert v2.files.written("cgroup.freeze") == ["1", "0"]


def test_no_freezer(v2: FakeHost) -> None:
    m = created(v2)
    os.unlink(v2.path("", "/capsa/ctr/cgroup.freeze"))
    with pytest.raises(Unavailable, match="no cgroup freezer"):
        m.freeze()
    assert not m.is_frozen()


def test_kill_all_uses_cgroup_kill_on_v2(v2: FakeHost) -> None:
    m = created(v2)
    m.kill_all()
    assert v2.files.writes == [(v2.path("", "/capsa/ctr/cgroup.kill"), "1")]


def test_kill_all_on_v1_freezes_signals_and_thaws(
    v1: FakeHost, monkeypatch: pytest.MonkeyPatch
) -> None:
    m = created(v1)
    Path(v1.path("freezer", "/capsa/ctr/cgroup.procs")).write_text("101\n102\n")
    sent: list[tuple[int, int]] = []

    def kill(pid: int, sig: int) -> None:
        sent.append((pid, sig))
        if pid == 102:
            raise ProcessLookupError

    monkeypatch.setattr(os, "kill", kill)
    m.kill_all(signal.SIGTERM)
    assert sent == [(101, signal.SIGTERM), (102, signal.SIGTERM)]
    assert v1.files.written("freezer.state") == ["FROZEN", "THAWED"]


def test_kill_all_leaves_a_paused_container_paused(
    v1: FakeHost, monkeypatch: pytest.MonkeyPatch
) -> None:
    m = created(v1)
    m.freeze()
    v1.files.writes.clear()
    monkeypatch.setattr(os, "kill", lambda pid, sig: None)
    m.kill_all(signal.SIGTERM)
    assert v1.files.written("freezer.state") == []
    m.kill_all(signal.SIGKILL)  # a frozen v1 task dies only once thawed
    assert v1.files.written("freezer.state") == ["THAWED"]


def test_kill_all_on_hybrid_uses_cgroup_kill_and_sweeps_v1(
    hybrid: FakeHost, monkeypatch: pytest.MonkeyPatch
) -> None:
    m = created(hybrid)
    Path(hybrid.path("freezer", "/capsa/ctr/cgroup.procs")).write_text("77\n")
    sent: list[int] = []
    monkeypatch.setattr(os, "kill", lambda pid, sig: sent.append(pid))
    m.kill_all()
    assert hybrid.files.written("cgroup.kill") == ["1"]
    assert sent == [77]


def test_destroy_removes_everything_and_tolerates_repeats(hybrid: FakeHost) -> None:
    m = created(hybrid)
    nested = Path(hybrid.path("memory", "/capsa/ctr/sub/deeper"))
    nested.mkdir(parents=True)
    m.destroy()
    for path in m.paths().values():
        assert not os.path.exists(path)
    m.destroy()
    assert not m.exists()


def test_destroy_retries_while_busy(hybrid: FakeHost) -> None:
    m = created(hybrid)
    leaf = hybrid.path("pids", "/capsa/ctr")
    hybrid.files.rmdir_busy[leaf] = 3
    m.destroy()
    assert not os.path.exists(leaf)


def test_destroy_gives_up_on_a_cgroup_that_stays_busy(hybrid: FakeHost) -> None:
    m = created(hybrid)
    leaf = hybrid.path("pids", "/capsa/ctr")
    hybrid.files.rmdir_busy[leaf] = 1000
    with pytest.raises(Conflict, match="still has processes"):
        m.destroy()
    # everything else is gone
    assert not os.path.exists(hybrid.path("memory", "/capsa/ctr"))


def test_stats_on_hybrid_come_from_v1(hybrid: FakeHost) -> None:
    m = created(hybrid)
    Path(hybrid.path("memory", "/capsa/ctr/memory.limit_in_bytes")).write_text("67108864\n")
    Path(hybrid.path("memory", "/capsa/ctr/memory.memsw.limit_in_bytes")).write_text("134217728\n")
    Path(hybrid.path("pids", "/capsa/ctr/pids.max")).write_text("32\n")
    assert m.stats() == CgroupStats(
        memory_usage=1048576,
        memory_limit=67108864,
        memory_max_usage=2097152,
        memory_cache=8192,
        swap_usage=262144,
        swap_limit=67108864,
        oom_kills=2,
        cpu_usage_total=5000000,
        cpu_usage_user=3000000,
        cpu_usage_system=2000000,
        cpu_periods=7,
        cpu_throttled_periods=3,
        cpu_throttled_time=123456,
        pids_current=1,
        pids_limit=32,
    )


def test_stats_on_v2(v2: FakeHost) -> None:
    stats = created(v2).stats()
    assert stats.as_dict() == {
        "memory_usage": 1048576,
        "memory_limit": None,
        "memory_max_usage": 2097152,
        "memory_cache": 8192,
        "swap_usage": 4096,
        "swap_limit": None,
        "oom_kills": 1,
        "cpu_usage_total": 5000000,
        "cpu_usage_user": 3000000,
        "cpu_usage_system": 2000000,
        "cpu_periods": 7,
        "cpu_throttled_periods": 3,
        "cpu_throttled_time": 120000,
        "pids_current": 1,
        "pids_limit": None,
    }


def test_cpu_stats_from_ticks_when_usage_user_is_missing(v1: FakeHost) -> None:
    m = created(v1)
    directory = v1.path("cpu,cpuacct", "/capsa/ctr")
    os.unlink(f"{directory}/cpuacct.usage_user")
    ticks = os.sysconf("SC_CLK_TCK")
    stats = m.stats()
    assert stats.cpu_usage_user == 3 * (1_000_000_000 // ticks)
    assert stats.cpu_usage_system == 2 * (1_000_000_000 // ticks)


def test_a_later_process_can_pick_up_the_container(hybrid: FakeHost) -> None:
    m = created(hybrid)
    m.apply({"pids": {"limit": 9}})
    later = load_manager(m.paths(), files=hybrid.files)
    later.apply({"pids": {"limit": 10}})
    later.freeze()
    assert later.is_frozen()
    later.thaw()
    later.destroy()
    assert not m.exists()
