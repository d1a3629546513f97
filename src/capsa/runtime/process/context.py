"""What the forked container processes need, prepared by the parent before fork so
that errors in the config surface before anything is created."""

from __future__ import annotations

import socket
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from capsa.runtime.namespaces import NamespacePlan


@dataclass
class InitContext:
    container_id: str
    config: dict[str, Any]
    bundle: Path
    rootfs: Path
    plan: NamespacePlan
    sync: socket.socket  # child end of the sync channel
    fifo_fd: int  # O_PATH descriptor of the exec fifo, reopened for writing after setup
    console: socket.socket | None  # connected console socket, when process.terminal
    seccomp_program: bytes | None
    seccomp_flags: int
    preserve_fds: int
    no_new_keyring: bool
    no_pivot: bool
    cgroup_join: Any  # callable(pid) that puts a process into the container's cgroups
