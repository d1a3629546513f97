"""unshare(2) and setns(2), and the mapping between OCI namespace types and clone flags."""

from __future__ import annotations

from capsa.kernel._libc import c_setns, c_unshare, check

CLONE_NEWTIME = 0x00000080
CLONE_NEWNS = 0x00020000
CLONE_NEWCGROUP = 0x02000000
CLONE_NEWUTS = 0x04000000
CLONE_NEWIPC = 0x08000000
CLONE_NEWUSER = 0x10000000
CLONE_NEWPID = 0x20000000
CLONE_NEWNET = 0x40000000

# OCI `linux.namespaces[].type` -> (clone flag, name of the /proc/PID/ns entry)
NAMESPACES: dict[str, tuple[int, str]] = {
    "pid": (CLONE_NEWPID, "pid"),
    "network": (CLONE_NEWNET, "net"),
    "mount": (CLONE_NEWNS, "mnt"),
    "ipc": (CLONE_NEWIPC, "ipc"),
    "uts": (CLONE_NEWUTS, "uts"),
    "user": (CLONE_NEWUSER, "user"),
    "cgroup": (CLONE_NEWCGROUP, "cgroup"),
    "time": (CLONE_NEWTIME, "time"),
}


def unshare(flags: int) -> None:
    check(c_unshare(flags), "unshare")


def setns(fd: int, nstype: int = 0) -> None:
    check(c_setns(fd, nstype), "setns")


def namespace_available(kind: str) -> bool:
    """Whether this kernel has a namespace kind (checks our own /proc/self/ns entry)."""
    import os

    entry = NAMESPACES[kind][1]
    return os.path.exists(f"/proc/self/ns/{entry}")
