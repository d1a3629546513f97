"""The one place capsa loads libc: its functions with errno (capsa.ffi), and the raw
syscall numbers."""

from __future__ import annotations

import os

from capsa import ffi

TYPE_CHECKING = False


if TYPE_CHECKING:
    from typing import Any

libc = ffi.CDLL("libc.so.6", use_errno=True)

_MACHINE = os.uname().machine

# Syscalls glibc 2.36 does not wrap, by architecture. Numbers from the kernel's unistd tables.
_SYSCALLS: dict[str, dict[str, int]] = {
    "x86_64": {
        "pivot_root": 155,
        "keyctl": 250,
        "ioprio_set": 251,
        "seccomp": 317,
        "sched_setattr": 314,
        "close_range": 436,
        "openat2": 437,
        "pidfd_open": 434,
        "pidfd_send_signal": 424,
        "clone3": 435,
    },
    "aarch64": {
        "pivot_root": 41,
        "keyctl": 219,
        "ioprio_set": 30,
        "seccomp": 277,
        "sched_setattr": 274,
        "close_range": 436,
        "openat2": 437,
        "pidfd_open": 434,
        "pidfd_send_signal": 424,
        "clone3": 435,
    },
}


def syscall_number(name: str) -> int:
    try:
        return _SYSCALLS[_MACHINE][name]
    except KeyError:
        raise OSError(38, f"syscall {name} is not known for architecture {_MACHINE}") from None


def check(result: int, what: str, path: str | None = None) -> int:
    """Turn a libc -1 return into OSError with the real errno, naming the call."""
    if result == -1:
        err = ffi.get_errno()
        message = f"{what}: {os.strerror(err)}"
        if path is not None:
            raise OSError(err, message, path)
        raise OSError(err, message)
    return result


def _declare(name: str, restype: Any, argtypes: list[Any]) -> Any:
    fn = getattr(libc, name)
    fn.restype = restype
    fn.argtypes = argtypes
    return fn


c_mount = _declare(
    "mount",
    ffi.c_int,
    [ffi.c_char_p, ffi.c_char_p, ffi.c_char_p, ffi.c_ulong, ffi.c_char_p],
)
c_umount2 = _declare("umount2", ffi.c_int, [ffi.c_char_p, ffi.c_int])
c_unshare = _declare("unshare", ffi.c_int, [ffi.c_int])
c_setns = _declare("setns", ffi.c_int, [ffi.c_int, ffi.c_int])
c_sethostname = _declare("sethostname", ffi.c_int, [ffi.c_char_p, ffi.c_size_t])
c_setdomainname = _declare("setdomainname", ffi.c_int, [ffi.c_char_p, ffi.c_size_t])
c_prctl = _declare(
    "prctl",
    ffi.c_int,
    [ffi.c_int, ffi.c_ulong, ffi.c_ulong, ffi.c_ulong, ffi.c_ulong],
)
c_personality = _declare("personality", ffi.c_int, [ffi.c_ulong])
c_capget = _declare("capget", ffi.c_int, [ffi.c_void_p, ffi.c_void_p])
c_capset = _declare("capset", ffi.c_int, [ffi.c_void_p, ffi.c_void_p])
c_syscall = libc.syscall
c_syscall.restype = ffi.c_long


def syscall_function(*argtypes: Any) -> Any:
    """syscall(2) with the argument types of one system call (after its number): ctypes
    then converts plain ints and bytes itself, which is much cheaper than wrapping each
    argument in a ctypes object on every call."""
    fn = libc["syscall"]  # indexing makes a new function object, with argtypes of its own
    fn.restype = ffi.c_long
    fn.argtypes = [ffi.c_long, *argtypes]
    return fn
