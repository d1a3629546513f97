"""`capsa stats`: a container's resource usage as `docker stats` shows it. A `Sample`
is read from the runtime's `stats()` (runc's `events --stats` document), the init's
network namespace (/proc/PID/net/dev) and its block I/O cgroup; CPU % needs two samples
and is worked out as Docker's CLI does (calculateCPUPercentUnix)."""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from capsa.engine.state import PAUSED, RUNNING
from capsa.errors import CapsaError

if TYPE_CHECKING:
    from capsa.engine.db import ContainerRecord
    from capsa.engine.engine import Engine

UNLIMITED = 2**62  # a cgroup memory limit at least this large is no limit


@dataclass(frozen=True)
class Sample:
    id: str
    name: str
    running: bool
    cpu_total_ns: int = 0  # the container's CPU time
    system_ns: int = 0  # the host's CPU time (all CPUs), from /proc/stat
    online_cpus: int = 1
    memory_usage: int = 0
    memory_cache: int = 0
    memory_limit: int = 0
    net_rx: int = 0
    net_tx: int = 0
    block_read: int = 0
    block_write: int = 0
    pids: int = 0


def cpu_percent(previous: Sample | None, current: Sample) -> float:
    """Docker's: the container's share of the host's CPU time between two samples,
    times the number of CPUs (so one busy core of four is 100 %)."""
    if previous is None:
        return 0.0
    cpu_delta = current.cpu_total_ns - previous.cpu_total_ns
    system_delta = current.system_ns - previous.system_ns
    if cpu_delta <= 0 or system_delta <= 0:
        return 0.0
    return cpu_delta / system_delta * current.online_cpus * 100.0


def memory_used(sample: Sample) -> int:
    """Docker's CLI shows usage without the page cache."""
    return max(sample.memory_usage - sample.memory_cache, 0)


def memory_percent(sample: Sample) -> float:
    if sample.memory_limit <= 0:
        return 0.0
    return memory_used(sample) / sample.memory_limit * 100.0


def host_cpu_ns(proc_stat: str) -> int:
    """The first `cpu` line of /proc/stat (user..steal, in clock ticks) in nanoseconds."""
    for line in proc_stat.splitlines():
        fields = line.split()
        if fields and fields[0] == "cpu":
            ticks = sum(int(value) for value in fields[1:9])
            return ticks * 1_000_000_000 // os.sysconf("SC_CLK_TCK")
    return 0


def net_bytes(net_dev: str) -> tuple[int, int]:
    """(received, sent) over every interface of /proc/PID/net/dev but loopback."""
    received = sent = 0
    for line in net_dev.splitlines()[2:]:
        name, _, counters = line.partition(":")
        fields = counters.split()
        if name.strip() == "lo" or len(fields) < 9:
            continue
        received += int(fields[0])
        sent += int(fields[8])
    return received, sent


def host_memory() -> int:
    with contextlib.suppress(OSError, ValueError), open("/proc/meminfo") as f:
        for line in f:
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) * 1024
    return 0


def _read(path: str) -> str:
    try:
        with open(path) as f:
            return f.read()
    except OSError:
        return ""


def sample(engine: Engine, record: ContainerRecord) -> Sample:
    """Usage of the container now; all zeros when it does not run."""
    from capsa.cgroups.io_usage import block_io_bytes

    if record.state.status not in (RUNNING, PAUSED):
        return Sample(record.id, record.name, running=False)
    runtime = engine.runtime(record.state.runtime or record.spec.runtime)
    try:
        document: dict[str, Any] = runtime.stats(record.id)
    except CapsaError:
        return Sample(record.id, record.name, running=False)  # it stopped meanwhile
    data = document.get("data") or {}
    cpu = data.get("cpu") or {}
    memory = data.get("memory") or {}
    usage = memory.get("usage") or {}
    limit = int(usage.get("limit") or 0)
    if not limit or limit >= UNLIMITED:
        limit = host_memory()
    pid = record.state.pid
    rx, tx = net_bytes(_read(f"/proc/{pid}/net/dev")) if pid > 0 else (0, 0)
    read, written = block_io_bytes(pid) if pid > 0 else (0, 0)
    return Sample(
        record.id,
        record.name,
        running=True,
        cpu_total_ns=int((cpu.get("usage") or {}).get("total") or 0),
        system_ns=host_cpu_ns(_read("/proc/stat")),
        online_cpus=len(os.sched_getaffinity(0)) or 1,
        memory_usage=int(usage.get("usage") or 0),
        memory_cache=int(memory.get("cache") or 0),
        memory_limit=limit,
        net_rx=rx,
        net_tx=tx,
        block_read=read,
        block_write=written,
        pids=int((data.get("pids") or {}).get("current") or 0),
    )


def binary_size(size: float) -> str:
    """go-units BytesSize: `1.5MiB` (4 significant digits)."""
    units = ("B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB")
    unit = 0
    while size >= 1024 and unit < len(units) - 1:
        size /= 1024
        unit += 1
    return f"{size:.4g}{units[unit]}"


def stats_row(
    previous: Sample | None, current: Sample, *, container: str, no_trunc: bool = False
) -> dict[str, str]:
    """One line of `docker stats`, its fields as Docker's templates name them."""
    from capsa.humanize import human_size

    if not current.running:
        cpu = mem = "0.00%"
        usage = net = block = "0B / 0B"
        pids = "0"
    else:
        cpu = f"{cpu_percent(previous, current):.2f}%"
        mem = f"{memory_percent(current):.2f}%"
        usage = f"{binary_size(memory_used(current))} / {binary_size(current.memory_limit)}"
        net = f"{human_size(current.net_rx)} / {human_size(current.net_tx)}"
        block = f"{human_size(current.block_read)} / {human_size(current.block_write)}"
        pids = str(current.pids)
    return {
        "BlockIO": block,
        "CPUPerc": cpu,
        "Container": container,
        "ID": current.id if no_trunc else current.id[:12],
        "MemPerc": mem,
        "MemUsage": usage,
        "Name": current.name,
        "NetIO": net,
        "PIDs": pids,
    }


def sample_all(engine: Engine, records: list[ContainerRecord]) -> dict[str, Sample]:
    return {record.id: sample(engine, record) for record in records}
