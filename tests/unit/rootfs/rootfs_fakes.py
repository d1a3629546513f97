"""A fake kernel holding a small bundle, and helpers to read what was asked of it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from capsa.kernel.syscalls.recording import RecordingSyscalls

BUNDLE = Path("/bundle")
ROOT = "/bundle/rootfs"
NAMESPACES = [{"type": "mount"}, {"type": "pid"}]

V1_MOUNTINFO = """\
27 1 254:0 / / rw,relatime - ext4 /dev/vda rw
22 27 0:21 / /proc rw,relatime - proc proc rw
23 27 0:22 / /sys rw,relatime - sysfs sysfs rw
31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
32 31 0:29 / /sys/fs/cgroup/cpu,cpuacct rw,relatime - cgroup cgroup rw,cpu,cpuacct
35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,xattr,name=systemd
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
"""
V1_CGROUP = """\
4:cpu,cpuacct:/capsa/c1
3:memory:/capsa/c1
1:name=systemd:/system.slice/capsa-c1.scope
0::/capsa/c1
"""
V2_MOUNTINFO = """\
27 1 254:0 / / rw,relatime - ext4 /dev/vda rw
31 23 0:28 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime - cgroup2 cgroup2 rw,nsdelegate
"""
V2_CGROUP = "0::/capsa/c1\n"


def make_fake(*dirs: str) -> RecordingSyscalls:
    """A fake with the bundle's rootfs holding /proc, /sys, /dev, /etc, /tmp (and dirs)."""
    fake = RecordingSyscalls()
    for name in ("proc", "sys", "dev", "etc", "tmp", *dirs):
        fake.add_dir(f"{ROOT}/{name.strip('/')}")
    fake.contents["/proc/self/mountinfo"] = V1_MOUNTINFO
    fake.contents["/proc/self/cgroup"] = V1_CGROUP
    return fake


def make_spec(*mounts: dict[str, Any], **linux: Any) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "ociVersion": "1.2.0",
        "root": {"path": "rootfs"},
        "mounts": list(mounts),
        "linux": {"namespaces": NAMESPACES, **linux},
    }
    return spec


def mounts(fake: RecordingSyscalls) -> list[tuple[Any, ...]]:
    """Every mount call as (source, target, fstype, flags, data), targets given as the
    path their /proc/self/fd/N descriptor was opened on."""
    return [
        (source, fake.path_of(target), fstype, flags, data)
        for source, target, fstype, flags, data in (call.args for call in fake.named("mount"))
    ]


def mounts_after_setup(fake: RecordingSyscalls) -> list[tuple[Any, ...]]:
    """The mount calls for `mounts` entries: without the rslave of / and the rootfs bind."""
    return [m for m in mounts(fake)[2:] if m[1] != "."]


def names(fake: RecordingSyscalls) -> list[str]:
    return [call.name for call in fake.calls]


def leaked_fds(fake: RecordingSyscalls) -> set[int]:
    """Descriptors opened and never closed."""
    closed = {call.args[0] for call in fake.named("close")}
    return set(fake.opened) - closed
