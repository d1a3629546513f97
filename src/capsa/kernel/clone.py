"""fork() with the child born in a cgroup v2 directory (clone3 with CLONE_INTO_CGROUP),
and in new namespaces.

Why not fork and then write the child's pid to cgroup.procs: that write takes the write
side of the kernel's global threadgroup lock, whose first use after a quiet spell waits
for an RCU grace period (7-30 ms on this kind of machine). A child cloned into the cgroup
takes only the read side, which never waits.

Python has no clone3, so this replays what os.fork() does around the system call:
PyOS_BeforeFork (import lock, os.register_at_fork `before` hooks), the call itself with
the GIL held, then PyOS_AfterFork_Child or PyOS_AfterFork_Parent. What it cannot replay
is glibc's own fork bookkeeping (taking its malloc and stdio locks across the fork,
recording the child's thread id): harmless only when no other thread exists that could
hold one of those locks. So it is for single-threaded callers, such as a process that
was just forked (fork leaves only the calling thread in the child); it refuses otherwise.
glibc copes with the stale thread id the way it copes after vfork (pthread_kill and
raise of the calling thread ask the kernel for the real one).
"""

from __future__ import annotations

import errno
import os

from capsa import ffi
from capsa.kernel._libc import syscall_number

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

CLONE_INTO_CGROUP = 0x200000000  # Linux 5.7
SIGCHLD = 17  # the same on x86_64 and aarch64

# The system call without releasing the GIL (a PyDLL): the child must not start out
# with the GIL in the hands of a thread that does not exist in it.
_syscall = ffi.PyDLL("libc.so.6", use_errno=True)["syscall"]
_syscall.restype = ffi.c_long
_syscall.argtypes = [ffi.c_long, ffi.c_void_p, ffi.c_size_t]


def _python_api(name: str) -> Any:
    fn = ffi.pythonapi[name]
    fn.restype = None
    fn.argtypes = []
    return fn


_before_fork = _python_api("PyOS_BeforeFork")
_after_fork_child = _python_api("PyOS_AfterFork_Child")
_after_fork_parent = _python_api("PyOS_AfterFork_Parent")

# struct clone_args up to `cgroup` (CLONE_ARGS_SIZE_VER2): flags, pidfd, child_tid,
# parent_tid, exit_signal, stack, stack_size, tls, set_tid, set_tid_size, cgroup.
_CloneArgs = ffi.c_uint64 * 11


def single_threaded() -> bool:
    try:
        return len(os.listdir("/proc/self/task")) == 1
    except OSError:
        return False


def fork_into_cgroup(cgroup_fd: int) -> int:
    """Like os.fork(), with the child already in the cgroup v2 directory open as
    `cgroup_fd`. 0 in the child, the child's pid in the parent.

    OSError with nothing forked when the kernel will not: ENOSYS (older than 5.7, or a
    seccomp filter hiding clone3), EACCES/EPERM/EBUSY/EOPNOTSUPP... for the reasons a
    cgroup.procs write would give; EINVAL from a caller with several threads."""
    return clone_process(0, cgroup_fd)


def clone_process(flags: int, cgroup_fd: int | None = None) -> int:
    """Like os.fork(), with clone flags (new namespaces: CLONE_NEWNS, CLONE_NEWPID...)
    and, given `cgroup_fd`, the child born in that cgroup v2 directory. 0 in the child,
    its pid in the parent; OSError as for fork_into_cgroup, with nothing forked."""
    if cgroup_fd is not None:
        flags |= CLONE_INTO_CGROUP
    what = f"clone3({flags:#x})"
    if not single_threaded():
        raise OSError(errno.EINVAL, f"{what}: the caller has several threads")
    args = _CloneArgs(flags, 0, 0, 0, SIGCHLD, 0, 0, 0, 0, 0, cgroup_fd or 0)
    number = syscall_number("clone3")
    _before_fork()
    pid = _syscall(number, ffi.addressof(args), ffi.sizeof(args))
    if pid == 0:
        _after_fork_child()
        return 0
    err = ffi.get_errno()
    _after_fork_parent()
    if pid < 0:
        raise OSError(err, f"{what}: {os.strerror(err)}")
    return int(pid)
