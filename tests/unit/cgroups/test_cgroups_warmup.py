from __future__ import annotations

from capsa.cgroups.warmup import own_cgroup_procs

HYBRID_MOUNTINFO = """\
30 25 0:26 / /sys/fs/cgroup ro,nosuid - tmpfs tmpfs ro,mode=755
31 30 0:27 / /sys/fs/cgroup/unified rw,nosuid - cgroup2 cgroup2 rw
33 30 0:29 / /sys/fs/cgroup/memory rw,nosuid - cgroup cgroup rw,memory
34 30 0:30 / /sys/fs/cgroup/pids rw,nosuid - cgroup cgroup rw,pids
"""
HYBRID_CGROUP = "3:pids:/user.slice\n2:memory:/process_api/abc\n0::/user.slice\n"


def test_first_hierarchy_we_are_in() -> None:
    path = own_cgroup_procs(HYBRID_CGROUP, HYBRID_MOUNTINFO)
    assert path == "/sys/fs/cgroup/unified/user.slice/cgroup.procs"


def test_v1_only() -> None:
    mountinfo = "\n".join(HYBRID_MOUNTINFO.splitlines()[2:])
    assert (
        own_cgroup_procs("2:memory:/a/b\n", mountinfo) == "/sys/fs/cgroup/memory/a/b/cgroup.procs"
    )


def test_bind_mounted_subtree_root() -> None:
    mountinfo = "40 1 0:29 /outer /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory\n"
    assert own_cgroup_procs("2:memory:/outer/inner\n", mountinfo) == (
        "/sys/fs/cgroup/memory/inner/cgroup.procs"
    )
    assert own_cgroup_procs("2:memory:/elsewhere\n", mountinfo) is None


def test_no_cgroups() -> None:
    assert own_cgroup_procs("", "") is None
