"""Per-process kernel knobs: prctl, personality, hostnames, keyrings, I/O priority,
scheduler, seccomp filter loading, closing file descriptors, pidfds."""

from __future__ import annotations

import os
import struct

from capsa import ffi
from capsa.kernel._libc import (
    c_personality,
    c_prctl,
    c_setdomainname,
    c_sethostname,
    c_syscall,
    check,
    syscall_number,
)

PR_SET_PDEATHSIG = 1
PR_SET_DUMPABLE = 4
PR_GET_DUMPABLE = 3
PR_SET_KEEPCAPS = 8
PR_SET_NAME = 15
PR_SET_SECCOMP = 22
PR_SET_NO_NEW_PRIVS = 38
PR_GET_NO_NEW_PRIVS = 39
PR_SET_CHILD_SUBREAPER = 36
PR_GET_CHILD_SUBREAPER = 37

SECCOMP_SET_MODE_FILTER = 1
SECCOMP_FILTER_FLAG_TSYNC = 1
SECCOMP_FILTER_FLAG_LOG = 2
SECCOMP_FILTER_FLAG_SPEC_ALLOW = 4

KEYCTL_JOIN_SESSION_KEYRING = 1

CLOSE_RANGE_CLOEXEC = 1 << 2


def prctl(option: int, arg2: int = 0, arg3: int = 0, arg4: int = 0, arg5: int = 0) -> int:
    return check(c_prctl(option, arg2, arg3, arg4, arg5), f"prctl({option})")


def set_no_new_privs() -> None:
    prctl(PR_SET_NO_NEW_PRIVS, 1)


def set_dumpable(dumpable: bool) -> None:
    prctl(PR_SET_DUMPABLE, 1 if dumpable else 0)


def set_keepcaps(keep: bool) -> None:
    prctl(PR_SET_KEEPCAPS, 1 if keep else 0)


def set_parent_death_signal(signal_number: int) -> None:
    prctl(PR_SET_PDEATHSIG, signal_number)


def set_child_subreaper() -> None:
    prctl(PR_SET_CHILD_SUBREAPER, 1)


def is_child_subreaper() -> bool:
    flag = ffi.c_int(0)
    prctl(PR_GET_CHILD_SUBREAPER, ffi.addressof(flag))
    return bool(flag.value)


def set_process_name(name: str) -> None:
    buf = ffi.create_string_buffer(name.encode()[:15])
    check(c_prctl(PR_SET_NAME, ffi.addressof(buf) or 0, 0, 0, 0), "prctl")


def personality(domain: int) -> None:
    check(c_personality(domain), "personality")


def sethostname(name: str) -> None:
    data = name.encode()
    check(c_sethostname(data, len(data)), "sethostname")


def setdomainname(name: str) -> None:
    data = name.encode()
    check(c_setdomainname(data, len(data)), "setdomainname")


def join_session_keyring(name: str | None) -> None:
    """Give the process a fresh session keyring so containers do not share the host's."""
    number = syscall_number("keyctl")
    arg = ffi.c_char_p(name.encode()) if name else ffi.c_char_p(None)
    result = c_syscall(ffi.c_long(number), ffi.c_long(KEYCTL_JOIN_SESSION_KEYRING), arg)
    check(int(result), "keyctl(KEYCTL_JOIN_SESSION_KEYRING)")


IOPRIO_WHO_PROCESS = 1
IOPRIO_CLASSES = {"IOPRIO_CLASS_RT": 1, "IOPRIO_CLASS_BE": 2, "IOPRIO_CLASS_IDLE": 3}


def ioprio_set(io_class: int, priority: int, pid: int = 0) -> None:
    number = syscall_number("ioprio_set")
    value = (io_class << 13) | priority
    result = c_syscall(
        ffi.c_long(number),
        ffi.c_long(IOPRIO_WHO_PROCESS),
        ffi.c_long(pid),
        ffi.c_long(value),
    )
    check(int(result), "ioprio_set")


SCHED_POLICIES = {
    "SCHED_OTHER": 0,
    "SCHED_FIFO": 1,
    "SCHED_RR": 2,
    "SCHED_BATCH": 3,
    "SCHED_ISO": 4,
    "SCHED_IDLE": 5,
    "SCHED_DEADLINE": 6,
}
SCHED_FLAGS = {
    "SCHED_FLAG_RESET_ON_FORK": 0x01,
    "SCHED_FLAG_RECLAIM": 0x02,
    "SCHED_FLAG_DL_OVERRUN": 0x04,
    "SCHED_FLAG_KEEP_POLICY": 0x08,
    "SCHED_FLAG_KEEP_PARAMS": 0x10,
    "SCHED_FLAG_UTIL_CLAMP_MIN": 0x20,
    "SCHED_FLAG_UTIL_CLAMP_MAX": 0x40,
}


def sched_setattr(
    policy: int,
    flags: int,
    nice: int,
    priority: int,
    runtime: int,
    deadline: int,
    period: int,
    pid: int = 0,
) -> None:
    # struct sched_attr (SCHED_ATTR_SIZE_VER0 = 48 bytes)
    attr = struct.pack("<IIQiIQQQ", 48, policy, flags, nice, priority, runtime, deadline, period)
    buf = ffi.create_string_buffer(attr, len(attr))
    number = syscall_number("sched_setattr")
    result = c_syscall(ffi.c_long(number), ffi.c_long(pid), buf, ffi.c_uint(0))
    check(int(result), "sched_setattr")


def load_seccomp_filter(program: bytes, flags: int = 0) -> None:
    """Install a classic-BPF seccomp program (8-byte sock_filter records)."""
    if len(program) % 8:
        raise ValueError("a BPF program is a whole number of 8-byte instructions")
    count = len(program) // 8
    buf = ffi.create_string_buffer(program, len(program))

    class SockFprog(ffi.Structure):
        _fields_ = [("len", ffi.c_ushort), ("filter", ffi.c_void_p)]

    fprog = SockFprog(count, ffi.addressof(buf))
    number = syscall_number("seccomp")
    result = c_syscall(
        ffi.c_long(number),
        ffi.c_long(SECCOMP_SET_MODE_FILTER),
        ffi.c_long(flags),
        ffi.byref(fprog),
    )
    check(int(result), "seccomp(SECCOMP_SET_MODE_FILTER)")


def close_range_cloexec(first: int) -> None:
    """Mark every descriptor >= first close-on-exec, so none leaks into the container."""
    number = syscall_number("close_range")
    result = c_syscall(
        ffi.c_long(number),
        ffi.c_uint(first),
        ffi.c_uint(0xFFFFFFFF),
        ffi.c_uint(CLOSE_RANGE_CLOEXEC),
    )
    if int(result) == -1:
        # Older kernels: walk /proc/self/fd instead.
        for name in os.listdir("/proc/self/fd"):
            fd = int(name)
            if fd >= first:
                try:
                    os.set_inheritable(fd, False)
                except OSError:
                    pass


def pidfd_open(pid: int) -> int:
    number = syscall_number("pidfd_open")
    return check(int(c_syscall(ffi.c_long(number), ffi.c_long(pid), ffi.c_uint(0))), "pidfd_open")


def pidfd_send_signal(pidfd: int, signal_number: int) -> None:
    number = syscall_number("pidfd_send_signal")
    result = c_syscall(
        ffi.c_long(number),
        ffi.c_int(pidfd),
        ffi.c_int(signal_number),
        ffi.c_void_p(None),
        ffi.c_uint(0),
    )
    check(int(result), "pidfd_send_signal")
