"""capsa.cgroups on this real host, as root: limits land in the kernel's files, processes
join every hierarchy, freeze/thaw/kill act on them, and destroy leaves nothing behind.

The host is expected to be hybrid (v1 controllers plus a cgroup2 mount holding hugetlb),
as the machines capsa runs its tests on are; tests that depend on it skip elsewhere.
The v2 code paths (cgroup.freeze, cgroup.kill, the eBPF device filter, hugetlb.*.max)
are exercised here too, through a v2-only view of the unified mount.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from capsa.cgroups import CgroupLayout, create_manager, detect_mode, load_manager
from capsa.cgroups.fs import FsManager
from capsa.errors import Unavailable

MiB = 1 << 20

hybrid_only = pytest.mark.skipif(
    os.geteuid() != 0 or detect_mode() != "hybrid", reason="needs root on a hybrid cgroup host"
)

WAIT_THEN_OPEN = """
import sys
sys.stdin.readline()
for path in sys.argv[1:]:
    try:
        with open(path, "rb") as f:
            f.read(1)
        print(path, "ok", flush=True)
    except PermissionError:
        print(path, "denied", flush=True)
"""

WAIT_THEN_FORK = """
import os, sys, time
sys.stdin.readline()
ok = failed = 0
for _ in range(3):
    try:
        pid = os.fork()
    except OSError:
        failed += 1
        continue
    if pid == 0:
        time.sleep(60)
        os._exit(0)
    ok += 1
print(ok, failed, flush=True)
time.sleep(60)
"""

WAIT_THEN_ALLOCATE = """
import sys
sys.stdin.readline()
data = b"\\x01" * (400 << 20)
print("survived", flush=True)
"""


def read(directory: str, name: str) -> str:
    return Path(directory, name).read_text().strip()


def proc_cgroups(pid: int) -> dict[str, str]:
    result = {}
    for line in Path(f"/proc/{pid}/cgroup").read_text().splitlines():
        _, names, path = line.split(":", 2)
        result[names] = path
    return result


def cpu_ticks(pid: int) -> int:
    stat = Path(f"/proc/{pid}/stat").read_text()
    fields = stat[stat.rindex(")") + 2 :].split()
    return int(fields[11]) + int(fields[12])  # utime + stime


def spawn(children: list[subprocess.Popen[bytes]], *args: str) -> subprocess.Popen[bytes]:
    proc = subprocess.Popen(args, stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    children.append(proc)
    return proc


def v2_view() -> CgroupLayout:
    """This host as if only its cgroup2 mount existed."""
    mountinfo = Path("/proc/self/mountinfo").read_text()
    cgroup2 = "\n".join(line for line in mountinfo.splitlines() if " - cgroup2 " in line)
    if not cgroup2:
        pytest.skip("no cgroup2 mount")
    return CgroupLayout.parse(cgroup2, Path("/proc/self/cgroup").read_text())


@hybrid_only
def test_limits_processes_stats_and_cleanup(
    cgroup_name: str,
    children: list[subprocess.Popen[bytes]],
    find_leftovers: Callable[[str], list[str]],
) -> None:
    manager = create_manager(f"/{cgroup_name}/ctr", "ctr")
    assert manager.mode == "hybrid"
    paths = manager.paths()
    try:
        manager.create()
        manager.create()  # idempotent
        manager.apply(
            {
                "memory": {"limit": 64 * MiB, "reservation": 32 * MiB, "swap": 96 * MiB},
                "cpu": {"shares": 512, "quota": 50000, "period": 100000, "cpus": "0", "mems": "0"},
                "pids": {"limit": 32},
                "hugepageLimits": [{"pageSize": "2MB", "limit": 4 * MiB}],
            }
        )
        assert read(paths["memory"], "memory.limit_in_bytes") == str(64 * MiB)
        assert read(paths["memory"], "memory.memsw.limit_in_bytes") == str(96 * MiB)
        assert read(paths["memory"], "memory.soft_limit_in_bytes") == str(32 * MiB)
        assert read(paths["cpu"], "cpu.shares") == "512"
        assert read(paths["cpu"], "cpu.cfs_quota_us") == "50000"
        assert read(paths["cpu"], "cpu.cfs_period_us") == "100000"
        assert read(paths["cpuset"], "cpuset.cpus") == "0"
        assert read(paths["pids"], "pids.max") == "32"
        assert read(paths["unified"], "hugetlb.2MB.max") == str(4 * MiB)

        # The child execs only once it is inside, so that its memory and CPU time are
        # charged to the container (v1 does not move charges with a process); it counts
        # a little first, so that its CPU time is never too small to be seen.
        child = spawn(
            children,
            "sh",
            "-c",
            "read line; i=0; while [ $i -lt 20000 ]; do i=$((i+1)); done; exec sleep 60",
        )
        manager.add_process(child.pid)
        assert child.stdin is not None
        child.stdin.write(b"\n")
        child.stdin.flush()
        deadline = time.monotonic() + 10
        while Path(f"/proc/{child.pid}/comm").read_text().strip() != "sleep":
            assert time.monotonic() < deadline
            time.sleep(0.01)
        joined = proc_cgroups(child.pid)
        for key in (
            "cpu",
            "cpuacct",
            "cpuset",
            "memory",
            "devices",
            "freezer",
            "blkio",
            "pids",
            "name=systemd",
            "",
        ):
            assert joined[key] == f"/{cgroup_name}/ctr", key
        assert manager.pids() == [child.pid]

        manager.update({"pids": {"limit": 64}, "memory": {"limit": 128 * MiB, "swap": -1}})
        assert read(paths["pids"], "pids.max") == "64"
        assert read(paths["memory"], "memory.limit_in_bytes") == str(128 * MiB)

        stats = manager.stats()
        assert stats.pids_current == 1
        assert stats.pids_limit == 64
        assert stats.memory_limit == 128 * MiB
        assert stats.memory_usage is not None and stats.memory_usage > 0
        assert stats.cpu_usage_total is not None and stats.cpu_usage_total > 0
        assert stats.oom_kills == 0

        manager.kill_all()
        assert child.wait(timeout=10) == -signal.SIGKILL
        manager.destroy()
        manager.destroy()  # already gone: fine
        assert not manager.exists()
        for path in paths.values():
            assert not os.path.exists(path)
    finally:
        manager.kill_all()
        manager.destroy()
    for mountpoint_dir in {os.path.dirname(p) for p in paths.values()}:
        os.rmdir(mountpoint_dir)  # the test's own parent cgroup; capsa keeps parents
    assert find_leftovers(cgroup_name) == []


@hybrid_only
def test_freeze_and_thaw_stop_and_resume_the_process(
    cgroup_name: str, children: list[subprocess.Popen[bytes]]
) -> None:
    manager = create_manager(f"/{cgroup_name}/ctr", "ctr")
    manager.create()
    child = spawn(children, "sh", "-c", "while :; do :; done")
    manager.add_process(child.pid)
    time.sleep(0.1)
    manager.freeze()
    assert manager.is_frozen()
    assert read(manager.paths()["freezer"], "freezer.state") == "FROZEN"
    before = cpu_ticks(child.pid)
    time.sleep(0.3)
    assert cpu_ticks(child.pid) == before  # no CPU time while frozen
    manager.thaw()
    assert not manager.is_frozen()
    time.sleep(0.3)
    assert cpu_ticks(child.pid) > before

    # A paused container killed with SIGKILL dies (v1 needs the thaw kill_all does).
    manager.freeze()
    manager.kill_all(signal.SIGKILL)
    assert child.wait(timeout=10) == -signal.SIGKILL
    manager.destroy()


@hybrid_only
def test_pids_limit_is_enforced_and_kill_all_reaches_grandchildren(
    cgroup_name: str, children: list[subprocess.Popen[bytes]]
) -> None:
    manager = create_manager(f"/{cgroup_name}/ctr", "ctr")
    manager.create()
    manager.apply({"pids": {"limit": 2}})
    child = spawn(children, sys.executable, "-c", WAIT_THEN_FORK)
    manager.add_process(child.pid)
    assert child.stdin is not None and child.stdout is not None
    child.stdin.write(b"\n")
    child.stdin.flush()
    assert child.stdout.readline().split() == [b"1", b"2"]  # one fork fits, two do not
    assert len(manager.pids()) == 2
    manager.kill_all(signal.SIGTERM)
    assert child.wait(timeout=10) == -signal.SIGTERM
    deadline = time.monotonic() + 5
    while manager.pids() and time.monotonic() < deadline:
        time.sleep(0.01)
    assert manager.pids() == []
    manager.destroy()


@hybrid_only
def test_memory_limit_triggers_the_oom_killer(
    cgroup_name: str, children: list[subprocess.Popen[bytes]]
) -> None:
    manager = create_manager(f"/{cgroup_name}/ctr", "ctr")
    manager.create()
    manager.apply({"memory": {"limit": 48 * MiB, "swap": 48 * MiB}})
    child = spawn(children, sys.executable, "-c", WAIT_THEN_ALLOCATE)
    manager.add_process(child.pid)
    assert child.stdin is not None
    child.stdin.write(b"\n")
    child.stdin.flush()
    assert child.wait(timeout=30) == -signal.SIGKILL
    stats = manager.stats()
    assert stats.oom_kills == 1
    assert stats.memory_max_usage is not None and stats.memory_max_usage >= 40 * MiB
    manager.destroy()


OPEN_NULL_UNTIL_EOF = """
import sys, threading
stop = threading.Event()
threading.Thread(target=lambda: (sys.stdin.read(), stop.set()), daemon=True).start()
opened = denied = 0
print("ready", flush=True)
while not stop.is_set():
    try:
        open("/dev/null", "rb").close()
        opened += 1
    except PermissionError:
        denied += 1
print(opened, denied, flush=True)
"""


@hybrid_only
def test_v1_device_updates_never_deny_what_stays_allowed(
    cgroup_name: str, children: list[subprocess.Popen[bytes]]
) -> None:
    from capsa.cgroups import devices_v1
    from capsa.cgroups.devices import parse_rule

    base = [
        {"allow": False, "access": "rwm"},
        {"allow": True, "type": "c", "major": 1, "minor": 3, "access": "rwm"},  # null
        {"allow": True, "type": "c", "major": 1, "minor": 5, "access": "rwm"},  # zero
        {"allow": False, "type": "c", "major": 1, "minor": 5, "access": "w"},
    ]
    other = [*base[:2], {"allow": True, "type": "c", "major": 136, "access": "rw"}]
    manager = create_manager(f"/{cgroup_name}/ctr", "ctr")
    manager.create()
    directory = manager.paths()["devices"]
    manager.apply({"devices": base})
    # The model and the kernel agree on what the rules add up to.
    assert read(directory, "devices.list") == "c 1:3 rwm\nc 1:5 rm"
    child = spawn(children, sys.executable, "-c", OPEN_NULL_UNTIL_EOF)
    manager.add_process(child.pid)
    assert child.stdout is not None and child.stdout.readline() == b"ready\n"
    for i in range(60):
        rules = other if i % 2 == 0 else base
        manager.update({"devices": rules})
        expected = devices_v1.after(
            devices_v1.DeviceState(True), [parse_rule(r, "r") for r in rules]
        )
        assert expected is not None
        assert read(directory, "devices.list") == devices_v1.render(expected)
    out, _ = child.communicate(b"", timeout=30)
    opened, denied = (int(x) for x in out.split())
    assert opened > 0 and denied == 0, f"/dev/null was refused {denied} times"
    manager.destroy()


@hybrid_only
def test_v1_device_rules(cgroup_name: str, children: list[subprocess.Popen[bytes]]) -> None:
    manager = create_manager(f"/{cgroup_name}/ctr", "ctr")
    manager.create()
    manager.apply(
        {
            "devices": [
                {"allow": False, "access": "rwm"},
                {"allow": True, "type": "c", "major": 1, "minor": 3, "access": "rwm"},
            ]
        }
    )
    assert read(manager.paths()["devices"], "devices.list") == "c 1:3 rwm"
    child = spawn(children, sys.executable, "-c", WAIT_THEN_OPEN, "/dev/null", "/dev/zero")
    manager.add_process(child.pid)
    out, _ = child.communicate(b"\n", timeout=30)
    assert out.decode().split("\n")[:2] == ["/dev/null ok", "/dev/zero denied"]
    manager.destroy()


@hybrid_only
def test_relative_path_lands_below_our_own_cgroups(cgroup_name: str) -> None:
    manager = create_manager(f"{cgroup_name}/ctr", "ctr")
    own = proc_cgroups(os.getpid())
    paths = manager.paths()
    assert paths["memory"] == f"/sys/fs/cgroup/memory{own['memory']}/{cgroup_name}/ctr"
    manager.create()
    manager.apply({"memory": {"limit": 64 * MiB}})
    assert read(paths["memory"], "memory.limit_in_bytes") == str(64 * MiB)
    manager.destroy()


@hybrid_only
def test_state_survives_into_another_process(cgroup_name: str) -> None:
    manager = create_manager(f"/{cgroup_name}/ctr", "ctr")
    manager.create()
    script = (
        "import json, sys\n"
        "from capsa.cgroups import load_manager\n"
        "m = load_manager(json.loads(sys.argv[1]))\n"
        "m.update({'pids': {'limit': 7}})\n"
        "m.freeze()\n"
        "print(m.is_frozen())\n"
    )
    import json

    out = subprocess.run(
        [sys.executable, "-c", script, json.dumps(manager.paths())],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    assert out.strip() == "True"
    again = load_manager(manager.paths())
    assert again.is_frozen()
    assert again.stats().pids_limit == 7
    again.thaw()
    again.destroy()


@hybrid_only
def test_unavailable_controllers_fail_clearly(cgroup_name: str) -> None:
    manager = create_manager(f"/{cgroup_name}/ctr", "ctr")
    manager.create()
    manager.apply({"network": {}, "rdma": {}})  # asks for nothing
    with pytest.raises(Unavailable, match="net_cls"):
        manager.apply({"network": {"classID": 1}})
    with pytest.raises(Unavailable, match="memory controller is bound to a cgroup v1"):
        manager.apply({"unified": {"memory.high": "1G"}})
    manager.destroy()


# -- the v2 code paths, on the unified mount of this host ---------------------------


def test_v2_paths_on_the_unified_mount(
    cgroup_name: str, children: list[subprocess.Popen[bytes]]
) -> None:
    if os.geteuid() != 0:
        pytest.skip("needs root")
    layout = v2_view()
    manager = create_manager(f"/{cgroup_name}/ctr", "ctr", layout=layout)
    assert isinstance(manager, FsManager) and manager.mode == "v2"
    directory = manager.paths()["unified"]
    manager.create()
    controllers = read(directory, "cgroup.controllers").split()
    if "hugetlb" in controllers:
        manager.apply(
            {
                "hugepageLimits": [{"pageSize": "2MB", "limit": 2 * MiB}],
                "unified": {"hugetlb.1GB.max": "0"},
            }
        )
        assert read(directory, "hugetlb.2MB.max") == str(2 * MiB)
        assert read(directory, "hugetlb.1GB.max") == "0"
    if "memory" not in controllers:
        with pytest.raises(Unavailable, match="memory controller is not available"):
            manager.apply({"memory": {"limit": MiB}})

    # Devices through the eBPF program, attached to the v2 cgroup.
    manager.apply(
        {
            "devices": [
                {"allow": False, "access": "rwm"},
                {"allow": True, "type": "c", "major": 1, "minor": 3, "access": "rwm"},
                {"allow": True, "type": "c", "major": 1, "minor": 9, "access": "r"},  # urandom
            ]
        }
    )
    child = spawn(
        children, sys.executable, "-c", WAIT_THEN_OPEN, "/dev/null", "/dev/zero", "/dev/urandom"
    )
    manager.add_process(child.pid)
    assert proc_cgroups(child.pid)[""] == f"/{cgroup_name}/ctr"
    out, _ = child.communicate(b"\n", timeout=30)
    assert out.decode().split("\n")[:3] == ["/dev/null ok", "/dev/zero denied", "/dev/urandom ok"]
    # Replacing the program (update) swaps rules instead of stacking them.
    manager.update(
        {
            "devices": [
                {"allow": True, "access": "rwm"},
                {"allow": False, "type": "c", "major": 1, "minor": 3},
            ]
        }
    )
    child = spawn(children, sys.executable, "-c", WAIT_THEN_OPEN, "/dev/null", "/dev/zero")
    manager.add_process(child.pid)
    out, _ = child.communicate(b"\n", timeout=30)
    assert out.decode().split("\n")[:2] == ["/dev/null denied", "/dev/zero ok"]

    # cgroup.freeze and cgroup.events
    sleeper = spawn(children, "sh", "-c", "while :; do :; done")
    manager.add_process(sleeper.pid)
    manager.freeze()
    assert "frozen 1" in read(directory, "cgroup.events")
    assert manager.is_frozen()
    before = cpu_ticks(sleeper.pid)
    time.sleep(0.3)
    assert cpu_ticks(sleeper.pid) == before
    manager.thaw()
    assert not manager.is_frozen()

    # cgroup.kill
    assert manager.pids() == [sleeper.pid]
    manager.kill_all()
    assert sleeper.wait(timeout=10) == -signal.SIGKILL
    manager.destroy()
    assert not os.path.exists(directory)
