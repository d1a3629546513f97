"""`capsa stats`'s arithmetic and formatting, as Docker's CLI computes them."""

from __future__ import annotations

import os

from capsa.cgroups.io_usage import parse_io_stat, parse_v1_service_bytes
from capsa.engine.stats import (
    Sample,
    binary_size,
    cpu_percent,
    host_cpu_ns,
    memory_percent,
    net_bytes,
    stats_row,
)


def _sample(cpu: int, system: int, cpus: int = 4, **extra: int) -> Sample:
    return Sample("a" * 64, "web", True, cpu, system, cpus, **extra)


def test_cpu_percent_is_the_share_of_host_time_times_cpus() -> None:
    before = _sample(1_000, 10_000)
    after = _sample(3_500, 20_000)  # 2500 of 10000 host ns, on 4 CPUs: one core busy
    assert cpu_percent(before, after) == 100.0
    assert cpu_percent(None, after) == 0.0
    assert cpu_percent(after, after) == 0.0


def test_memory_leaves_out_the_page_cache() -> None:
    current = _sample(0, 0, memory_usage=3 << 20, memory_cache=1 << 20, memory_limit=8 << 20)
    assert memory_percent(current) == 25.0
    row = stats_row(None, current, container="web")
    assert row["MemUsage"] == "2MiB / 8MiB"
    assert row["MemPerc"] == "25.00%"
    assert row["ID"] == "a" * 12 and row["Container"] == "web"


def test_sizes_as_go_units() -> None:
    assert binary_size(1126) == "1.1KiB"
    assert binary_size(0) == "0B"
    current = _sample(0, 0, net_rx=648, net_tx=1234, block_read=2_500_000)
    row = stats_row(None, current, container="x")
    assert row["NetIO"] == "648B / 1.23kB"
    assert row["BlockIO"] == "2.5MB / 0B"


def test_a_stopped_container_shows_zeros() -> None:
    row = stats_row(None, Sample("b" * 64, "gone", False), container="gone", no_trunc=True)
    assert row["ID"] == "b" * 64
    assert (row["CPUPerc"], row["MemUsage"], row["PIDs"]) == ("0.00%", "0B / 0B", "0")


def test_proc_files() -> None:
    ticks = os.sysconf("SC_CLK_TCK")
    assert host_cpu_ns("cpu  1 2 3 4 5 6 7 8 9 10\ncpu0 1 1 1 1\n") == 36 * 10**9 // ticks
    net_dev = (
        "Inter-|   Receive ...\n face |bytes packets ...\n"
        "    lo:  500  5 0 0 0 0 0 0  500 5 0 0 0 0 0 0\n"
        "  eth0: 1000 10 0 0 0 0 0 0  300 3 0 0 0 0 0 0\n"
    )
    assert net_bytes(net_dev) == (1000, 300)
    assert parse_v1_service_bytes("8:0 Read 10\n8:0 Write 5\n8:16 Read 1\nTotal 16\n") == (11, 5)
    assert parse_io_stat("8:0 rbytes=7 wbytes=3 rios=1\n8:16 rbytes=1 wbytes=0\n") == (8, 3)
