"""What the forked container processes need, prepared by the parent before fork so
that errors in the config surface before anything is created."""

from __future__ import annotations

TYPE_CHECKING = False


if TYPE_CHECKING:
    from _socket import socket
    from typing import Any

    from capsa.cgroups import CgroupManager
    from capsa.runtime.namespaces import NamespacePlan


class InitContext:
    __slots__ = (
        "bundle",
        "cgroup",
        "config",
        "console",
        "container_id",
        "fifo_fd",
        "no_new_keyring",
        "no_pivot",
        "plan",
        "preserve_fds",
        "rootfs",
        "seccomp_flags",
        "seccomp_program",
        "sync",
    )

    def __init__(
        self,
        *,
        container_id: str,
        config: dict[str, Any],
        bundle: str,
        rootfs: str,
        plan: NamespacePlan,
        sync: socket,
        fifo_fd: int,
        console: Any,
        seccomp_program: bytes | None,
        seccomp_flags: int,
        preserve_fds: int,
        no_new_keyring: bool,
        no_pivot: bool,
        cgroup: CgroupManager,
    ) -> None:
        self.container_id = container_id
        self.config = config
        self.bundle = bundle
        self.rootfs = rootfs
        self.plan = plan
        self.sync = sync  # child end of the sync channel
        self.fifo_fd = fifo_fd  # O_PATH fd of the exec fifo, reopened for writing at start
        self.console = console  # connected console socket, when process.terminal
        self.seccomp_program = seccomp_program
        self.seccomp_flags = seccomp_flags
        self.preserve_fds = preserve_fds
        self.no_new_keyring = no_new_keyring
        self.no_pivot = no_pivot
        self.cgroup = cgroup  # the container's cgroups, made already; the processes join
