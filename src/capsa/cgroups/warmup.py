"""Pay the kernel's cgroup-migration latency early, in the background.

The first write to any `cgroup.procs` after a quiet spell waits for an RCU grace period
(the kernel's cgroup_threadgroup_rwsem switches its readers to the slow path), which
here costs 10-30 ms; writes that follow within the next grace period are quick. A
container start must move its first process into the container's cgroups, so we make a
harmless migration first, on a thread, while the caller parses the config and builds the
cgroup: we write our own pid into the cgroup we are already in, which changes nothing
but takes the same lock.
"""

from __future__ import annotations

import _thread
import os
import time

_last_warm_up = 0.0
# A grace period is a few ms to a few tens of ms; within this the lock is still warm.
_WARM_FOR = 0.02


def own_cgroup_procs(proc_cgroup: str | None = None, mountinfo: str | None = None) -> str | None:
    """cgroup.procs of the cgroup we are in, in the first hierarchy we can find."""
    try:
        if proc_cgroup is None:
            with open("/proc/self/cgroup") as f:
                proc_cgroup = f.read()
        if mountinfo is None:
            with open("/proc/self/mountinfo") as f:
                mountinfo = f.read()
    except OSError:
        return None
    memberships = [line.split(":", 2) for line in proc_cgroup.splitlines() if line.count(":") >= 2]
    mounts = mountinfo.splitlines()
    for line in mounts:
        left, _, right = line.partition(" - ")
        fields = right.split()
        if len(fields) < 3 or fields[0] not in ("cgroup", "cgroup2"):
            continue
        mount_point = left.split()[4]
        root = left.split()[3]
        options = set(fields[2].split(","))
        for hierarchy_id, controllers, path in memberships:
            if fields[0] == "cgroup2":
                matches = hierarchy_id == "0"
            else:
                matches = bool(controllers) and bool(options.intersection(controllers.split(",")))
            if matches and (path + "/").startswith(root.rstrip("/") + "/"):
                relative = path[len(root.rstrip("/")) :].lstrip("/")
                return os.path.join(mount_point, relative, "cgroup.procs")
    return None


def _migrate_to_self(path: str) -> None:
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CLOEXEC)
        try:
            os.write(fd, str(os.getpid()).encode())
        finally:
            os.close(fd)
    except OSError:
        pass  # not allowed (rootless) or gone: the real join just pays the full cost


def warm_up_migration() -> None:
    """Start the harmless migration on a thread, unless one ran moments ago."""
    global _last_warm_up
    now = time.monotonic()
    if now - _last_warm_up < _WARM_FOR:
        return
    _last_warm_up = now
    path = own_cgroup_procs()
    if path is not None:
        _thread.start_new_thread(_migrate_to_self, (path,))
