"""Which files get which values for memory, cpu and cpuset, on v1, v2 and hybrid."""

from __future__ import annotations

import logging

import pytest
from cgroups_fakehost import FakeHost, created

from capsa.cgroups.cpu import shares_to_weight
from capsa.cgroups.memory import v2_swap
from capsa.errors import Conflict, InvalidArgument, Unavailable

MiB = 1 << 20


# -- memory, v1 -------------------------------------------------------------------------


def test_v1_memory_limit_reservation_and_swap(hybrid: FakeHost) -> None:
    m = created(hybrid)
    m.apply({"memory": {"limit": 64 * MiB, "reservation": 32 * MiB, "swap": 128 * MiB}})
    d = hybrid.path("memory", "/capsa/ctr")
    assert hybrid.files.writes == [
        (f"{d}/memory.limit_in_bytes", str(64 * MiB)),
        (f"{d}/memory.memsw.limit_in_bytes", str(128 * MiB)),
        (f"{d}/memory.soft_limit_in_bytes", str(32 * MiB)),
    ]


def test_v1_memory_growing_raises_memsw_first(hybrid: FakeHost) -> None:
    # memory <= memory+swap must hold after every single write.
    m = created(hybrid)
    m.apply({"memory": {"limit": 64 * MiB, "swap": 128 * MiB}})
    hybrid.files.writes.clear()
    m.update({"memory": {"limit": 256 * MiB, "swap": 512 * MiB}})
    assert hybrid.files.written_to() == [
        hybrid.path("memory", "/capsa/ctr/memory.memsw.limit_in_bytes"),
        hybrid.path("memory", "/capsa/ctr/memory.limit_in_bytes"),
    ]


def test_v1_memory_shrinking_writes_the_limit_first(hybrid: FakeHost) -> None:
    m = created(hybrid)
    m.apply({"memory": {"limit": 256 * MiB, "swap": 512 * MiB}})
    hybrid.files.writes.clear()
    m.update({"memory": {"limit": 64 * MiB, "swap": 128 * MiB}})
    assert hybrid.files.written_to() == [
        hybrid.path("memory", "/capsa/ctr/memory.limit_in_bytes"),
        hybrid.path("memory", "/capsa/ctr/memory.memsw.limit_in_bytes"),
    ]


def test_v1_unlimited_memory_lifts_a_finite_memsw(hybrid: FakeHost) -> None:
    m = created(hybrid)
    m.apply({"memory": {"limit": 64 * MiB, "swap": 64 * MiB}})
    hybrid.files.writes.clear()
    m.update({"memory": {"limit": -1}})
    assert hybrid.files.writes == [
        (hybrid.path("memory", "/capsa/ctr/memory.memsw.limit_in_bytes"), "-1"),
        (hybrid.path("memory", "/capsa/ctr/memory.limit_in_bytes"), "-1"),
    ]


def test_v1_unlimited_memory_leaves_an_unlimited_memsw_alone(hybrid: FakeHost) -> None:
    m = created(hybrid)
    m.apply({"memory": {"limit": -1}})
    assert hybrid.files.written("memory.limit_in_bytes") == ["-1"]
    assert hybrid.files.written("memory.memsw.limit_in_bytes") == []


def test_v1_swap_without_swap_accounting(hybrid: FakeHost) -> None:
    m = created(hybrid)
    memsw = hybrid.path("memory", "/capsa/ctr/memory.memsw.limit_in_bytes")
    import os

    os.unlink(memsw)
    with pytest.raises(Unavailable, match="swapaccount"):
        m.apply({"memory": {"limit": 64 * MiB, "swap": 128 * MiB}})
    assert hybrid.files.writes == []
    m.apply({"memory": {"limit": 64 * MiB, "swap": -1}})  # nothing to lift: fine
    assert hybrid.files.written_to() == [hybrid.path("memory", "/capsa/ctr/memory.limit_in_bytes")]


def test_v1_other_memory_knobs(hybrid: FakeHost, caplog: pytest.LogCaptureFixture) -> None:
    m = created(hybrid)
    with caplog.at_level(logging.WARNING, logger="capsa.cgroups"):
        m.apply(
            {
                "memory": {
                    "kernel": 32 * MiB,
                    "kernelTCP": 8 * MiB,
                    "swappiness": 0,
                    "disableOOMKiller": True,
                    "useHierarchy": True,
                }
            }
        )
    assert "kernel memory limits are deprecated" in caplog.text
    d = hybrid.path("memory", "/capsa/ctr")
    assert hybrid.files.writes == [
        (f"{d}/memory.kmem.tcp.limit_in_bytes", str(8 * MiB)),
        (f"{d}/memory.swappiness", "0"),
        (f"{d}/memory.oom_control", "1"),
        (f"{d}/memory.use_hierarchy", "1"),
    ]


def test_disable_oom_killer_false_and_zero_limits_write_nothing(hybrid: FakeHost) -> None:
    m = created(hybrid)
    m.apply({"memory": {"disableOOMKiller": False, "limit": 0, "reservation": 0}})
    assert hybrid.files.writes == []


# -- memory, v2 -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("swap", "limit", "expected"),
    [
        (None, None, None),
        (None, -1, -1),  # unlimited memory and swap not set: unlimited swap too
        (-1, 100, -1),
        (300, 100, 200),  # the spec's swap is memory+swap; v2's is swap alone
        (100, 100, 0),
        (None, 100, None),
    ],
)
def test_v2_swap_conversion(swap: int | None, limit: int | None, expected: int | None) -> None:
    assert v2_swap(swap, limit) == expected


def test_v2_memory(v2: FakeHost) -> None:
    m = created(v2)
    m.apply({"memory": {"limit": 64 * MiB, "swap": 96 * MiB, "reservation": 16 * MiB}})
    d = v2.path("", "/capsa/ctr")
    assert v2.files.writes == [
        (f"{d}/memory.swap.max", str(32 * MiB)),
        (f"{d}/memory.max", str(64 * MiB)),
        (f"{d}/memory.low", str(16 * MiB)),
    ]


def test_v2_unlimited(v2: FakeHost) -> None:
    m = created(v2)
    m.apply({"memory": {"limit": -1}})
    assert v2.files.written("memory.swap.max") == ["max"]
    assert v2.files.written("memory.max") == ["max"]


def test_v2_swap_without_limit_is_refused_before_anything_is_written(v2: FakeHost) -> None:
    m = created(v2)
    with pytest.raises(InvalidArgument, match=r"linux\.resources\.memory\.swap"):
        m.apply({"pids": {"limit": 10}, "memory": {"swap": 96 * MiB}})
    assert v2.files.writes == []


def test_v2_check_before_update(v2: FakeHost) -> None:
    m = created(v2)  # the fake's memory.current is 1 MiB
    with pytest.raises(Conflict, match="already uses"):
        m.update({"memory": {"limit": MiB // 2, "checkBeforeUpdate": True}})
    m.update({"memory": {"limit": MiB // 2}})  # without the check the kernel decides
    assert v2.files.written("memory.max") == [str(MiB // 2)]


def test_v2_knobs_it_does_not_have(v2: FakeHost, caplog: pytest.LogCaptureFixture) -> None:
    m = created(v2)
    with caplog.at_level(logging.WARNING, logger="capsa.cgroups"):
        m.apply({"memory": {"swappiness": 10, "kernelTCP": 5, "disableOOMKiller": True}})
    assert v2.files.writes == []
    assert "swappiness is ignored" in caplog.text
    with pytest.raises(Unavailable, match="useHierarchy"):
        m.apply({"memory": {"useHierarchy": False}})


# -- cpu --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("shares", "weight"),
    [(2, 1), (1024, 39), (512, 20), (262144, 10000), (1, 1), (10**9, 10000)],
)
def test_shares_to_weight(shares: int, weight: int) -> None:
    assert shares_to_weight(shares) == weight


def test_v1_cpu(hybrid: FakeHost) -> None:
    m = created(hybrid)
    m.apply(
        {
            "cpu": {
                "shares": 512,
                "quota": 50000,
                "period": 100000,
                "burst": 1000,
                "idle": 0,
                "realtimeRuntime": 9500,
                "realtimePeriod": 10000,
            }
        }
    )
    d = hybrid.path("cpu", "/capsa/ctr")
    assert hybrid.files.writes == [
        (f"{d}/cpu.idle", "0"),
        (f"{d}/cpu.shares", "512"),
        (f"{d}/cpu.cfs_burst_us", "1000"),
        (f"{d}/cpu.cfs_period_us", "100000"),
        (f"{d}/cpu.cfs_quota_us", "50000"),
        (f"{d}/cpu.rt_period_us", "10000"),
        (f"{d}/cpu.rt_runtime_us", "9500"),
    ]


def test_v1_cpu_unlimited_quota(hybrid: FakeHost) -> None:
    m = created(hybrid)
    m.apply({"cpu": {"quota": -1}})
    assert hybrid.files.writes == [(hybrid.path("cpu", "/capsa/ctr/cpu.cfs_quota_us"), "-1")]


def test_v2_cpu(v2: FakeHost) -> None:
    m = created(v2)
    m.apply({"cpu": {"shares": 1024, "quota": 50000, "period": 100000}})
    d = v2.path("", "/capsa/ctr")
    assert v2.files.writes == [(f"{d}/cpu.weight", "39"), (f"{d}/cpu.max", "50000 100000")]


def test_v2_cpu_period_alone_keeps_the_quota(v2: FakeHost) -> None:
    m = created(v2)
    m.apply({"cpu": {"quota": 20000}})
    assert v2.files.written("cpu.max") == ["20000"]
    m.update({"cpu": {"period": 50000}})
    assert v2.files.written("cpu.max") == ["20000", "20000 50000"]
    m.update({"cpu": {"quota": -1}})
    assert v2.files.written("cpu.max")[-1] == "max"


def test_v2_idle_group_gets_no_weight(v2: FakeHost) -> None:
    m = created(v2)
    m.apply({"cpu": {"idle": 1, "shares": 1024}})
    assert v2.files.writes == [(v2.path("", "/capsa/ctr/cpu.idle"), "1")]


def test_v2_realtime_is_unavailable(v2: FakeHost) -> None:
    m = created(v2)
    with pytest.raises(Unavailable, match="real-time"):
        m.apply({"cpu": {"shares": 100, "realtimeRuntime": 1000}})
    assert v2.files.writes == []


def test_burst_above_quota_is_invalid(v2: FakeHost) -> None:
    m = created(v2)
    with pytest.raises(InvalidArgument, match=r"cpu\.burst"):
        m.apply({"cpu": {"quota": 1000, "burst": 2000}})


# -- cpuset -----------------------------------------------------------------------------


def test_v1_cpuset_is_filled_from_the_parent_on_create(hybrid: FakeHost) -> None:
    from cgroups_fakehost import manager_for

    m = manager_for(hybrid)
    m.create()
    parent, leaf = hybrid.path("cpuset", "/capsa"), hybrid.path("cpuset", "/capsa/ctr")
    cpuset_writes = [w for w in hybrid.files.writes if "/cpuset/" in w[0]]
    assert cpuset_writes == [
        (f"{parent}/cpuset.mems", "0"),
        (f"{parent}/cpuset.cpus", "0-1"),
        (f"{leaf}/cpuset.mems", "0"),
        (f"{leaf}/cpuset.cpus", "0-1"),
    ]
    hybrid.files.writes.clear()
    m.create()  # idempotent, and nothing left to fill
    assert hybrid.files.writes == []


def test_cpuset_values(hybrid: FakeHost, v2: FakeHost) -> None:
    for host, hierarchy in ((hybrid, "cpuset"), (v2, "")):
        m = created(host)
        m.apply({"cpu": {"cpus": "0-1,3", "mems": "0"}})
        d = host.path(hierarchy, "/capsa/ctr")
        assert host.files.writes == [(f"{d}/cpuset.mems", "0"), (f"{d}/cpuset.cpus", "0-1,3")]


@pytest.mark.parametrize("cpus", ["0-", "a", "1,,2", "3-1", " - ", "0 1", "\uff11"])
def test_bad_cpu_lists(hybrid: FakeHost, cpus: str) -> None:
    m = created(hybrid)
    with pytest.raises(InvalidArgument, match=r"linux\.resources\.cpu\.cpus"):
        m.apply({"cpu": {"cpus": cpus}})


def test_empty_cpu_list_means_not_set(hybrid: FakeHost) -> None:
    m = created(hybrid)
    m.apply({"cpu": {"cpus": "", "mems": ""}})
    assert hybrid.files.writes == []
