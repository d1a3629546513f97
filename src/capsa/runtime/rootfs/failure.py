"""How kernel failures while building the root filesystem become errors: a
ContainerError whose message names the operation and what it was done to, e.g.
`mount proc on /proc: Operation not permitted`."""

from __future__ import annotations

import os

from capsa.errors import ContainerError


class RootfsPathError(OSError):
    """A path inside the rootfs cannot be used as asked; `reason` says why in words."""

    def __init__(self, code: int, reason: str) -> None:
        super().__init__(code, reason)
        self.reason = reason


class MountFailed(ContainerError):
    """A kernel call failed; `errno` keeps the kernel's answer for callers that have a
    fallback (cgroup2 -> bind mount)."""

    def __init__(self, message: str, errno: int) -> None:
        super().__init__(message)
        self.errno = errno


def kernel_error(what: str, exc: OSError) -> MountFailed:
    if isinstance(exc, RootfsPathError):
        reason = exc.reason
    elif exc.errno:
        reason = os.strerror(exc.errno)
    else:
        reason = str(exc)
    return MountFailed(f"{what}: {reason}", exc.errno or 0)
