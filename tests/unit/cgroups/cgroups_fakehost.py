"""A fake cgroup host in a temporary directory: mountinfo and /proc/self/cgroup texts for
v1, v2 and hybrid layouts, and a `CgroupFiles` that behaves like cgroupfs where the code
under test depends on it (new directories come populated with control files, rmdir
works on non-empty directories, subtree_control merges, cgroup.freeze sets
cgroup.events) and records every write in order."""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

from capsa.cgroups import create_manager
from capsa.cgroups._files import CgroupFiles
from capsa.cgroups.ebpf import Insn
from capsa.cgroups.fs import FsManager
from capsa.cgroups.layout import CgroupLayout

UNLIMITED = "9223372036854771712"
OWN_MEMORY = "/process_api/03168c94cd706b2029633add0e7a2e86"

V1_FILES: dict[str, dict[str, str]] = {
    "cpu": {
        "cpu.shares": "1024",
        "cpu.cfs_quota_us": "-1",
        "cpu.cfs_period_us": "100000",
        "cpu.cfs_burst_us": "0",
        "cpu.idle": "0",
        "cpu.rt_runtime_us": "0",
        "cpu.rt_period_us": "1000000",
        "cpu.stat": "nr_periods 7\nnr_throttled 3\nthrottled_time 123456",
    },
    "cpuacct": {
        "cpuacct.usage": "5000000",
        "cpuacct.usage_user": "3000000",
        "cpuacct.usage_sys": "2000000",
        "cpuacct.stat": "user 3\nsystem 2",
    },
    "cpuset": {"cpuset.cpus": "", "cpuset.mems": ""},
    "memory": {
        "memory.limit_in_bytes": UNLIMITED,
        "memory.memsw.limit_in_bytes": UNLIMITED,
        "memory.soft_limit_in_bytes": UNLIMITED,
        "memory.kmem.limit_in_bytes": UNLIMITED,
        "memory.kmem.tcp.limit_in_bytes": UNLIMITED,
        "memory.swappiness": "60",
        "memory.oom_control": "oom_kill_disable 0\nunder_oom 0\noom_kill 2",
        "memory.use_hierarchy": "1",
        "memory.usage_in_bytes": "1048576",
        "memory.max_usage_in_bytes": "2097152",
        "memory.memsw.usage_in_bytes": "1310720",
        "memory.stat": "cache 4096\nrss 8192\ntotal_cache 8192\ntotal_rss 8192",
    },
    "devices": {"devices.allow": "", "devices.deny": "", "devices.list": "a *:* rwm"},
    "freezer": {"freezer.state": "THAWED"},
    "blkio": {
        "blkio.bfq.weight": "100",
        "blkio.bfq.weight_device": "",
        "blkio.throttle.read_bps_device": "",
        "blkio.throttle.write_bps_device": "",
        "blkio.throttle.read_iops_device": "",
        "blkio.throttle.write_iops_device": "",
    },
    "pids": {"pids.max": "max", "pids.current": "1"},
    "hugetlb": {"hugetlb.2MB.limit_in_bytes": UNLIMITED, "hugetlb.1GB.limit_in_bytes": UNLIMITED},
    "net_cls": {"net_cls.classid": "0"},
    "net_prio": {"net_prio.ifpriomap": "lo 0"},
    "systemd": {},
}

V1_ROOT_FILES = {"cpuset": {"cpuset.cpus": "0-1", "cpuset.mems": "0"}}

V2_CORE = {
    "cgroup.controllers": "",
    "cgroup.subtree_control": "",
    "cgroup.procs": "",
    "cgroup.freeze": "0",
    "cgroup.events": "populated 0\nfrozen 0",
    "cgroup.kill": "",
    "cgroup.type": "domain",
    "cgroup.max.depth": "max",
    "cpu.stat": "usage_usec 5000\nuser_usec 3000\nsystem_usec 2000",
}

V2_CONTROLLER_FILES = {
    "cpu": {
        "cpu.weight": "100",
        "cpu.max": "max 100000",
        "cpu.max.burst": "0",
        "cpu.idle": "0",
        "cpu.stat": "usage_usec 5000\nuser_usec 3000\nsystem_usec 2000\nnr_periods 7\n"
        "nr_throttled 3\nthrottled_usec 120",
    },
    "cpuset": {"cpuset.cpus": "", "cpuset.mems": ""},
    "io": {"io.weight": "default 100", "io.max": ""},
    "memory": {
        "memory.max": "max",
        "memory.swap.max": "max",
        "memory.low": "0",
        "memory.high": "max",
        "memory.current": "1048576",
        "memory.peak": "2097152",
        "memory.swap.current": "4096",
        "memory.stat": "anon 8192\nfile 8192",
        "memory.events": "low 0\nhigh 0\nmax 0\noom 1\noom_kill 1",
    },
    "pids": {"pids.max": "max", "pids.current": "1"},
    "hugetlb": {
        "hugetlb.2MB.max": "max",
        "hugetlb.2MB.rsvd.max": "max",
        "hugetlb.1GB.max": "max",
        "hugetlb.1GB.rsvd.max": "max",
    },
    "rdma": {"rdma.max": ""},
}

# This machine, exactly (device numbers included), with mount points moved under `root`.
HYBRID_MOUNTINFO = """\
27 1 254:0 / / rw,relatime - ext4 /dev/vda rw,discard
23 27 0:22 / /sys rw,relatime - sysfs sysfs rw
31 23 0:28 / {root} rw,relatime - tmpfs tmpfs rw,mode=755
32 31 0:29 / {root}/cpu rw,relatime - cgroup cgroup rw,cpu
33 31 0:30 / {root}/cpuacct rw,relatime - cgroup cgroup rw,cpuacct
34 31 0:31 / {root}/cpuset rw,relatime - cgroup cgroup rw,cpuset
35 31 0:32 / {root}/memory rw,relatime - cgroup cgroup rw,memory
36 31 0:33 / {root}/devices rw,relatime - cgroup cgroup rw,devices
37 31 0:34 / {root}/freezer rw,relatime - cgroup cgroup rw,freezer
38 31 0:35 / {root}/blkio rw,relatime - cgroup cgroup rw,blkio
39 31 0:36 / {root}/pids rw,relatime - cgroup cgroup rw,pids
40 31 0:37 / {root}/systemd rw,relatime - cgroup cgroup rw,name=systemd
41 31 0:38 / {root}/unified rw,relatime - cgroup2 cgroup2 rw
"""

HYBRID_PROC_CGROUP = f"""\
9:name=systemd:/
8:pids:/
7:blkio:/
6:freezer:/
5:devices:/
4:memory:{OWN_MEMORY}
3:cpuset:/
2:cpuacct:/
1:cpu:/
0::/
"""

# A classic v1 host: cpu and cpuacct co-mounted, net_cls/net_prio and hugetlb present.
V1_MOUNTINFO = """\
25 1 8:1 / / rw,relatime shared:1 - ext4 /dev/sda1 rw
30 25 0:26 / {root} ro,nosuid shared:9 - tmpfs tmpfs ro,mode=755
31 30 0:27 / {root}/systemd rw,nosuid shared:10 - cgroup cgroup rw,xattr,name=systemd
32 30 0:28 / {root}/cpu,cpuacct rw,nosuid shared:11 - cgroup cgroup rw,cpu,cpuacct
33 30 0:29 / {root}/cpuset rw,nosuid shared:12 - cgroup cgroup rw,cpuset
34 30 0:30 / {root}/memory rw,nosuid shared:13 - cgroup cgroup rw,memory
35 30 0:31 / {root}/devices rw,nosuid shared:14 - cgroup cgroup rw,devices
36 30 0:32 / {root}/freezer rw,nosuid shared:15 - cgroup cgroup rw,freezer
37 30 0:33 / {root}/blkio rw,nosuid shared:16 - cgroup cgroup rw,blkio
38 30 0:34 / {root}/pids rw,nosuid shared:17 - cgroup cgroup rw,pids
39 30 0:35 / {root}/hugetlb rw,nosuid shared:18 - cgroup cgroup rw,hugetlb
40 30 0:36 / {root}/net_cls,net_prio rw,nosuid shared:19 - cgroup cgroup rw,net_cls,net_prio
"""

V1_PROC_CGROUP = """\
11:net_cls,net_prio:/
10:hugetlb:/
9:pids:/user.slice/user-1000.slice/session-2.scope
8:blkio:/user.slice
7:freezer:/
6:devices:/user.slice
5:memory:/user.slice/user-1000.slice/session-2.scope
4:cpuset:/
3:cpu,cpuacct:/user.slice
2:name=systemd:/user.slice/user-1000.slice/session-2.scope
"""

V2_MOUNTINFO = """\
25 1 8:1 / / rw,relatime shared:1 - ext4 /dev/sda1 rw
30 25 0:26 / {root} rw,nosuid,nodev,noexec,relatime shared:9 - cgroup2 cgroup2 rw,nsdelegate
"""

V2_PROC_CGROUP = "0::/user.slice/user-1000.slice/session-2.scope\n"

V2_CONTROLLERS = "cpuset cpu io memory hugetlb pids rdma"


class FakeCgroupFiles(CgroupFiles):
    """cgroupfs, roughly, on a plain directory tree."""

    def __init__(self, templates: dict[str, dict[str, str]]) -> None:
        self.templates = templates  # mount point -> files a new directory gets
        self.writes: list[tuple[str, str]] = []
        self.programs: list[tuple[str, list[Insn]]] = []
        self.rmdir_busy: dict[str, int] = {}  # path -> how many rmdirs fail with EBUSY

    def _template(self, path: str) -> dict[str, str]:
        best = ""
        for mountpoint in self.templates:
            if (path == mountpoint or path.startswith(mountpoint + "/")) and len(mountpoint) > len(
                best
            ):
                best = mountpoint
        return self.templates[best]

    def populate(self, path: str, overrides: dict[str, str] | None = None) -> None:
        for name, content in {**self._template(path), **(overrides or {})}.items():
            Path(path, name).write_text(content + "\n" if content else "")

    def mkdir(self, path: str) -> bool:
        created = super().mkdir(path)
        if created:
            self.populate(path)
        return created

    def rmdir(self, path: str) -> None:
        if self.rmdir_busy.get(path):
            self.rmdir_busy[path] -= 1
            raise OSError(16, "Device or resource busy", path)
        if os.path.isdir(path):
            for entry in os.listdir(path):
                if os.path.isfile(os.path.join(path, entry)):
                    os.unlink(os.path.join(path, entry))
        super().rmdir(path)

    def write(self, directory: str, name: str, value: str, *, field: str | None = None) -> None:
        path = f"{directory}/{name}"
        self.writes.append((path, value))
        if name == "cgroup.subtree_control" and os.path.exists(path):
            enabled = Path(path).read_text().split()
            for token in value.split():
                controller = token[1:]
                if token.startswith("+") and controller not in enabled:
                    enabled.append(controller)
                elif token.startswith("-") and controller in enabled:
                    enabled.remove(controller)
            Path(path).write_text(" ".join(enabled) + "\n")
            return
        super().write(directory, name, value, field=field)
        if name == "cgroup.freeze":
            Path(directory, "cgroup.events").write_text(f"populated 1\nfrozen {value}\n")

    def attach_device_program(
        self, directory: str, insns: list[Insn], *, field: str | None = None
    ) -> None:
        self.programs.append((directory, insns))

    def written(self, suffix: str) -> list[str]:
        """Values written to files whose path ends with `suffix`, in order."""
        return [value for path, value in self.writes if path.endswith(suffix)]

    def written_to(self) -> list[str]:
        return [path for path, _ in self.writes]


class FakeHost:
    def __init__(self, root: Path, mode: str) -> None:
        self.root = root
        self.mode = mode
        text = {"hybrid": HYBRID_MOUNTINFO, "v1": V1_MOUNTINFO, "v2": V2_MOUNTINFO}[mode]
        self.mountinfo = text.format(root=root)
        self.proc_cgroup = {
            "hybrid": HYBRID_PROC_CGROUP,
            "v1": V1_PROC_CGROUP,
            "v2": V2_PROC_CGROUP,
        }[mode]
        self.layout = CgroupLayout.parse(self.mountinfo, self.proc_cgroup)
        templates: dict[str, dict[str, str]] = {}
        if self.layout.unified is not None:
            mountpoint = self.layout.unified.mount.mountpoint
            v2_controllers = "hugetlb" if mode == "hybrid" else V2_CONTROLLERS
            files = dict(V2_CORE)
            for controller in v2_controllers.split():
                files.update(V2_CONTROLLER_FILES[controller])
            files["cgroup.controllers"] = v2_controllers
            templates[mountpoint] = files
        for h in self.layout.v1:
            files = {"cgroup.procs": "", "tasks": ""}
            for controller in h.mount.controllers or {"systemd"}:
                files.update(V1_FILES[controller])
            templates[h.mount.mountpoint] = files
        self.files = FakeCgroupFiles(templates)
        for mountpoint in templates:
            os.makedirs(mountpoint)
            self.files.populate(mountpoint, self._root_overrides(mountpoint))
        # Our own cgroups exist already.
        for h in (*self.layout.v1, *((self.layout.unified,) if self.layout.unified else ())):
            own = h.own_relative
            if own and own != "/":
                self.make_existing(h.mount.mountpoint + own)

    def _root_overrides(self, mountpoint: str) -> dict[str, str]:
        name = os.path.basename(mountpoint)
        overrides = dict(V1_ROOT_FILES.get(name, {}))
        return overrides

    def make_existing(self, path: str) -> None:
        """A directory made before the test (not recorded as a write)."""
        parent = os.path.dirname(path)
        if not os.path.isdir(parent):
            self.make_existing(parent)
        if not os.path.isdir(path):
            os.mkdir(path)
            overrides = {}
            if "/cpuset" in path:
                overrides = {"cpuset.cpus": "0-1", "cpuset.mems": "0"}
            self.files.populate(path, overrides)

    def path(self, hierarchy: str, cgroup: str = "") -> str:
        return str(self.root / hierarchy) + cgroup

    def read(self, hierarchy: str, cgroup: str, name: str) -> str:
        return Path(self.path(hierarchy, cgroup), name).read_text().strip()

    def cleanup(self) -> None:
        shutil.rmtree(self.root, ignore_errors=True)


def manager_for(host: FakeHost, path: str | None = "/capsa/ctr", **kwargs: Any) -> FsManager:
    manager = create_manager(path, "ctr", layout=host.layout, files=host.files, **kwargs)
    assert isinstance(manager, FsManager)
    return manager


def created(host: FakeHost, path: str | None = "/capsa/ctr", **kwargs: Any) -> FsManager:
    """A manager whose directories exist, with the write log cleared."""
    manager = manager_for(host, path, **kwargs)
    manager.create()
    host.files.writes.clear()
    return manager
