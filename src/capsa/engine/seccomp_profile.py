"""capsa's default seccomp profile: an allow-list of system calls, grouped by what a
container needs them for, each with the condition under which it is allowed.

    seccomp = default_profile(capabilities["bounding"])  # OCI `linux.seccomp`, this host

What it allows and refuses is what Docker's default profile allows and refuses (a unit test
checks every fact of Docker's profile against this one, architecture by architecture and
capability set by capability set). The differences are of form, not of effect:
- the groups below say why; conditions are resolved here, for the host's architecture, the
  container's bounding set and the running kernel, as Docker resolves its profile before it
  writes config.json, so config.json holds a plain OCI profile any runtime can load;
- every refused call answers EPERM, Docker's `defaultErrnoRet`, except two kinds that
  answer ENOSYS ("no such call") so that programs fall back to an older call the profile
  does allow: clone3 without CAP_SYS_ADMIN (as Docker: its flags are behind a pointer a
  filter cannot read, and libc then uses clone, whose flags it can), and the calls newer
  than the profile (NEWER_THAN_PROFILE). runc on a libseccomp that does not know such a
  call also answers ENOSYS, so the same container sees the same errors under both
  runtimes. Calls newer than capsa's syscall tables cannot be named in an OCI profile and
  get EPERM.

`DENIED` lists, with the reason, each call the profile refuses on purpose, so that every
syscall of every architecture capsa knows is either allowed by a group or refused for a
stated reason (a unit test keeps it so when the syscall tables grow).
"""

from __future__ import annotations

from capsa._record import Record
from capsa.engine.seccomp_target import kernel_version, target

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Collection, Iterable
    from typing import Any

EPERM = 1
ENOSYS = 38

# Namespace flags of clone(2): without CAP_SYS_ADMIN a container may not make namespaces.
CLONE_NEWNS = 0x00020000
CLONE_NEWCGROUP = 0x02000000
CLONE_NEWUTS = 0x04000000
CLONE_NEWIPC = 0x08000000
CLONE_NEWUSER = 0x10000000
CLONE_NEWPID = 0x20000000
CLONE_NEWNET = 0x40000000
CLONE_NAMESPACE_FLAGS = (
    CLONE_NEWNS
    | CLONE_NEWCGROUP
    | CLONE_NEWUTS
    | CLONE_NEWIPC
    | CLONE_NEWUSER
    | CLONE_NEWPID
    | CLONE_NEWNET
)

# Address families socket(2) refuses: AF_ALG (the kernel's crypto API, a recurring source
# of kernel bugs) and AF_VSOCK (sockets to the hypervisor and the host, across the VM wall).
AF_ALG = 38
AF_NFC = 39
AF_VSOCK = 40

# personality(2) values programs use: Linux itself, 32-bit uname (linux32), the 2.6
# version number that old build scripts need (uname26), both, and the query.
PER_LINUX = 0x0000
PER_LINUX32 = 0x0008
UNAME26 = 0x0020000
PERSONALITY_QUERY = 0xFFFFFFFF

X86_64 = "SCMP_ARCH_X86_64"
X86 = "SCMP_ARCH_X86"
X32 = "SCMP_ARCH_X32"
AARCH64 = "SCMP_ARCH_AARCH64"
ARM = "SCMP_ARCH_ARM"
PPC64LE = "SCMP_ARCH_PPC64LE"
S390 = "SCMP_ARCH_S390"
S390X = "SCMP_ARCH_S390X"
RISCV64 = "SCMP_ARCH_RISCV64"


class Arg(Record):
    """A condition on one argument: `args[index] op value` (MASKED_EQ: `& value == value_two`)."""

    __slots__ = ("index", "op", "value", "value_two")

    def __init__(self, index: int, op: str, value: int, value_two: int = 0) -> None:
        self.index = index
        self.op = op  # SCMP_CMP_*
        self.value = value
        self.value_two = value_two

    def oci(self) -> dict[str, Any]:
        entry: dict[str, Any] = {"index": self.index, "value": self.value, "op": self.op}
        if self.value_two:
            entry["valueTwo"] = self.value_two
        return entry


class Group(Record):
    """Syscalls allowed (or refused with `errno`) for one purpose, under one condition.

    The condition: every capability of `caps` is in the bounding set and none of
    `without_caps`; the native architecture is one of `arches` (when given) and none of
    `without_arches`; the kernel is at least `min_kernel`. `alternatives` are argument
    conditions of which any one allows the call (none: any arguments).
    """

    __slots__ = (
        "alternatives",
        "arches",
        "caps",
        "errno",
        "min_kernel",
        "names",
        "purpose",
        "without_arches",
        "without_caps",
    )

    def __init__(
        self,
        purpose: str,
        names: tuple[str, ...],
        *,
        caps: frozenset[str] = frozenset(),
        without_caps: frozenset[str] = frozenset(),
        arches: frozenset[str] = frozenset(),
        without_arches: frozenset[str] = frozenset(),
        min_kernel: tuple[int, int] | None = None,
        alternatives: tuple[tuple[Arg, ...], ...] = (),
        errno: int | None = None,
    ) -> None:
        self.purpose = purpose
        self.names = names
        self.caps = caps
        self.without_caps = without_caps
        self.arches = arches
        self.without_arches = without_arches
        self.min_kernel = min_kernel
        self.alternatives = alternatives
        self.errno = errno  # None: allow

    def applies(self, arch: str, capabilities: frozenset[str], kernel: tuple[int, int]) -> bool:
        if self.arches and arch not in self.arches:
            return False
        if arch in self.without_arches:
            return False
        if not self.caps <= capabilities or self.without_caps & capabilities:
            return False
        return self.min_kernel is None or kernel >= self.min_kernel

    def rules(self) -> list[dict[str, Any]]:
        """The OCI syscall rules of this group: one per argument alternative."""
        action: dict[str, Any] = {"action": "SCMP_ACT_ALLOW"}
        if self.errno is not None:
            action = {"action": "SCMP_ACT_ERRNO", "errnoRet": self.errno}
        if not self.alternatives:
            return [{"names": list(self.names), **action}]
        return [
            {"names": list(self.names), **action, "args": [arg.oci() for arg in args]}
            for args in self.alternatives
        ]


def _caps(*names: str) -> frozenset[str]:
    return frozenset(names)


def _arches(*names: str) -> frozenset[str]:
    return frozenset(names)


def _eq(index: int, value: int) -> tuple[Arg, ...]:
    return (Arg(index, "SCMP_CMP_EQ", value),)


# -- what every container may do ------------------------------------------------------

ALWAYS: tuple[Group, ...] = (
    Group(
        "open, read, write and close files and pipes; duplicate descriptors",
        (
            "open",
            "openat",
            "openat2",
            "creat",
            "close",
            "close_range",
            "read",
            "readv",
            "pread64",
            "preadv",
            "preadv2",
            "write",
            "writev",
            "pwrite64",
            "pwritev",
            "pwritev2",
            "lseek",
            "_llseek",
            "dup",
            "dup2",
            "dup3",
            "fcntl",
            "fcntl64",
            "ioctl",
            "pipe",
            "pipe2",
            "flock",
        ),
    ),
    Group(
        "move data between descriptors without copying it through the program",
        (
            "sendfile",
            "sendfile64",
            "copy_file_range",
            "splice",
            "tee",
            "vmsplice",
        ),
    ),
    Group(
        "size, preallocate, flush and advise on file contents",
        (
            "truncate",
            "truncate64",
            "ftruncate",
            "ftruncate64",
            "fallocate",
            "fsync",
            "fdatasync",
            "sync",
            "syncfs",
            "sync_file_range",
            "readahead",
            "fadvise64",
            "fadvise64_64",
            "cachestat",
        ),
    ),
    Group(
        "look at files and file systems",
        (
            "stat",
            "stat64",
            "lstat",
            "lstat64",
            "fstat",
            "fstat64",
            "fstatat64",
            "newfstatat",
            "statx",
            "statfs",
            "statfs64",
            "fstatfs",
            "fstatfs64",
            "access",
            "faccessat",
            "faccessat2",
            "readlink",
            "readlinkat",
            "getdents",
            "getdents64",
            "getcwd",
            "chdir",
            "fchdir",
            "name_to_handle_at",
        ),
    ),
    Group(
        "make, rename and remove files, directories, links and device nodes (mknod of a "
        "device still needs CAP_MKNOD and the device cgroup's permission)",
        (
            "mkdir",
            "mkdirat",
            "rmdir",
            "rename",
            "renameat",
            "renameat2",
            "link",
            "linkat",
            "symlink",
            "symlinkat",
            "unlink",
            "unlinkat",
            "mknod",
            "mknodat",
        ),
    ),
    Group(
        "change owners, modes and times of files",
        (
            "chmod",
            "fchmod",
            "fchmodat",
            "fchmodat2",
            "chown",
            "chown32",
            "fchown",
            "fchown32",
            "fchownat",
            "lchown",
            "lchown32",
            "umask",
            "utime",
            "utimes",
            "utimensat",
            "utimensat_time64",
            "futimesat",
        ),
    ),
    Group(
        "extended attributes",
        (
            "getxattr",
            "lgetxattr",
            "fgetxattr",
            "getxattrat",
            "setxattr",
            "lsetxattr",
            "fsetxattr",
            "setxattrat",
            "listxattr",
            "llistxattr",
            "flistxattr",
            "listxattrat",
            "removexattr",
            "lremovexattr",
            "fremovexattr",
            "removexattrat",
        ),
    ),
    Group(
        "watch files for changes (fanotify_init, which can watch whole mounts, needs "
        "CAP_SYS_ADMIN)",
        ("inotify_init", "inotify_init1", "inotify_add_watch", "inotify_rm_watch", "fanotify_mark"),
    ),
    Group(
        "read the mount table (the calls behind /proc/self/mountinfo)",
        ("listmount", "statmount"),
    ),
    Group(
        "wait for descriptors to become ready",
        (
            "poll",
            "ppoll",
            "ppoll_time64",
            "select",
            "_newselect",
            "pselect6",
            "pselect6_time64",
            "epoll_create",
            "epoll_create1",
            "epoll_ctl",
            "epoll_ctl_old",
            "epoll_wait",
            "epoll_wait_old",
            "epoll_pwait",
            "epoll_pwait2",
            "eventfd",
            "eventfd2",
        ),
    ),
    Group(
        "asynchronous I/O through io_submit (io_uring is refused: see DENIED)",
        (
            "io_setup",
            "io_destroy",
            "io_submit",
            "io_cancel",
            "io_getevents",
            "io_pgetevents",
            "io_pgetevents_time64",
        ),
    ),
    Group(
        "map, protect, lock and advise on memory",
        (
            "brk",
            "mmap",
            "mmap2",
            "munmap",
            "mremap",
            "remap_file_pages",
            "mprotect",
            "madvise",
            "mincore",
            "msync",
            "mlock",
            "mlock2",
            "mlockall",
            "munlock",
            "munlockall",
            "memfd_create",
            "memfd_secret",
            "membarrier",
            "pkey_alloc",
            "pkey_free",
            "pkey_mprotect",
            "map_shadow_stack",
            "mseal",
        ),
    ),
    Group(
        "start programs and processes, wait for them, exit (clone is limited below)",
        (
            "fork",
            "vfork",
            "execve",
            "execveat",
            "exit",
            "exit_group",
            "wait4",
            "waitid",
            "waitpid",
            "restart_syscall",
        ),
    ),
    Group(
        "threads: futexes, robust lists, restartable sequences, thread-local storage",
        (
            "futex",
            "futex_time64",
            "futex_waitv",
            "futex_wait",
            "futex_wake",
            "futex_requeue",
            "set_tid_address",
            "set_robust_list",
            "get_robust_list",
            "rseq",
            "set_thread_area",
            "get_thread_area",
        ),
    ),
    Group(
        "process identity and sessions",
        (
            "getpid",
            "getppid",
            "gettid",
            "getpgid",
            "setpgid",
            "getpgrp",
            "getsid",
            "setsid",
        ),
    ),
    Group(
        "process handles (pidfd) and process control; process_mrelease frees the memory "
        "of a process already being killed",
        ("pidfd_open", "pidfd_send_signal", "prctl", "process_mrelease"),
    ),
    Group(
        "signals",
        (
            "kill",
            "tkill",
            "tgkill",
            "rt_sigaction",
            "rt_sigprocmask",
            "rt_sigreturn",
            "rt_sigpending",
            "rt_sigsuspend",
            "rt_sigtimedwait",
            "rt_sigtimedwait_time64",
            "rt_sigqueueinfo",
            "rt_tgsigqueueinfo",
            "sigaltstack",
            "sigprocmask",
            "sigreturn",
            "signalfd",
            "signalfd4",
            "pause",
            "alarm",
        ),
    ),
    Group(
        "read clocks, sleep, and use timers (adjtimex and clock_adjtime only read the "
        "clock without CAP_SYS_TIME, which setting it needs)",
        (
            "time",
            "gettimeofday",
            "clock_gettime",
            "clock_gettime64",
            "clock_getres",
            "clock_getres_time64",
            "clock_nanosleep",
            "clock_nanosleep_time64",
            "nanosleep",
            "getitimer",
            "setitimer",
            "times",
            "timer_create",
            "timer_delete",
            "timer_getoverrun",
            "timer_gettime",
            "timer_gettime64",
            "timer_settime",
            "timer_settime64",
            "timerfd_create",
            "timerfd_gettime",
            "timerfd_gettime64",
            "timerfd_settime",
            "timerfd_settime64",
            "adjtimex",
            "clock_adjtime",
            "clock_adjtime64",
        ),
    ),
    Group(
        "user and group IDs and capabilities (changing them is up to the kernel's own "
        "checks: CAP_SETUID, CAP_SETGID, CAP_SETPCAP)",
        (
            "getuid",
            "getuid32",
            "geteuid",
            "geteuid32",
            "getgid",
            "getgid32",
            "getegid",
            "getegid32",
            "getresuid",
            "getresuid32",
            "getresgid",
            "getresgid32",
            "getgroups",
            "getgroups32",
            "setuid",
            "setuid32",
            "setgid",
            "setgid32",
            "setreuid",
            "setreuid32",
            "setregid",
            "setregid32",
            "setresuid",
            "setresuid32",
            "setresgid",
            "setresgid32",
            "setfsuid",
            "setfsuid32",
            "setfsgid",
            "setfsgid32",
            "setgroups",
            "setgroups32",
            "capget",
            "capset",
        ),
    ),
    Group(
        "resource limits, usage, priorities, CPU affinity and scheduling (raising them is "
        "up to the kernel's checks: CAP_SYS_RESOURCE, CAP_SYS_NICE)",
        (
            "getrlimit",
            "setrlimit",
            "ugetrlimit",
            "prlimit64",
            "getrusage",
            "getpriority",
            "setpriority",
            "ioprio_get",
            "ioprio_set",
            "getcpu",
            "sched_yield",
            "sched_getaffinity",
            "sched_setaffinity",
            "sched_getattr",
            "sched_setattr",
            "sched_getparam",
            "sched_setparam",
            "sched_getscheduler",
            "sched_setscheduler",
            "sched_get_priority_max",
            "sched_get_priority_min",
            "sched_rr_get_interval",
            "sched_rr_get_interval_time64",
        ),
    ),
    Group(
        "sockets once made (making one, socket(), is limited by address family below)",
        (
            "socketpair",
            "bind",
            "listen",
            "accept",
            "accept4",
            "connect",
            "getsockname",
            "getpeername",
            "getsockopt",
            "setsockopt",
            "shutdown",
            "send",
            "sendto",
            "sendmsg",
            "sendmmsg",
            "recv",
            "recvfrom",
            "recvmsg",
            "recvmmsg",
            "recvmmsg_time64",
            "socketcall",
        ),
    ),
    Group(
        "System V and POSIX IPC (namespaced by the container's IPC namespace)",
        (
            "ipc",
            "msgget",
            "msgsnd",
            "msgrcv",
            "msgctl",
            "semget",
            "semop",
            "semtimedop",
            "semtimedop_time64",
            "semctl",
            "shmget",
            "shmat",
            "shmdt",
            "shmctl",
            "mq_open",
            "mq_unlink",
            "mq_timedsend",
            "mq_timedsend_time64",
            "mq_timedreceive",
            "mq_timedreceive_time64",
            "mq_notify",
            "mq_getsetattr",
        ),
    ),
    Group(
        "about the system: kernel name and version, memory and load, random numbers, the "
        "CPU's features (riscv_hwprobe)",
        ("uname", "sysinfo", "getrandom", "riscv_hwprobe"),
    ),
    Group(
        "a program confining itself further: its own seccomp filters and Landlock rules",
        ("seccomp", "landlock_create_ruleset", "landlock_add_rule", "landlock_restrict_self"),
    ),
    Group(
        "the return trampoline of user-space probes (the kernel's, called by code it "
        "placed itself)",
        ("uretprobe",),
    ),
)

# -- with limits on the arguments, or only on some kernels ----------------------------

LIMITED: tuple[Group, ...] = (
    Group(
        "trace processes and read or write their memory: kernels before 4.8 checked seccomp "
        "before a tracer could change the call, so ptrace was a way around the filter; "
        "the kernel's own checks (same user, or CAP_SYS_PTRACE) still apply",
        ("ptrace", "process_vm_readv", "process_vm_writev"),
        min_kernel=(4, 8),
    ),
    Group(
        "make sockets of every address family but AF_ALG and AF_VSOCK",
        ("socket",),
        alternatives=(
            (Arg(0, "SCMP_CMP_LT", AF_ALG),),
            _eq(0, AF_NFC),
            (Arg(0, "SCMP_CMP_GT", AF_VSOCK),),
        ),
    ),
    Group(
        "switch to the execution domains programs use (linux32, uname26) or ask which is "
        "set; the others change how the kernel treats the program (READ_IMPLIES_EXEC, "
        "ADDR_NO_RANDOMIZE...)",
        ("personality",),
        alternatives=(
            _eq(0, PER_LINUX),
            _eq(0, PER_LINUX32),
            _eq(0, UNAME26),
            _eq(0, UNAME26 | PER_LINUX32),
            _eq(0, PERSONALITY_QUERY),
        ),
    ),
    Group(
        "start processes and threads without making namespaces (clone's flags are its "
        "first argument, its second on s390)",
        ("clone",),
        without_caps=_caps("CAP_SYS_ADMIN"),
        without_arches=_arches(S390, S390X),
        alternatives=((Arg(0, "SCMP_CMP_MASKED_EQ", CLONE_NAMESPACE_FLAGS, 0),),),
    ),
    Group(
        "start processes and threads without making namespaces, s390 argument order",
        ("clone",),
        without_caps=_caps("CAP_SYS_ADMIN"),
        arches=_arches(S390, S390X),
        alternatives=((Arg(1, "SCMP_CMP_MASKED_EQ", CLONE_NAMESPACE_FLAGS, 0),),),
    ),
    Group(
        "clone3 keeps its flags in memory a filter cannot read: say it does not exist, and "
        "libc falls back to clone",
        ("clone3",),
        without_caps=_caps("CAP_SYS_ADMIN"),
        errno=ENOSYS,
    ),
)

# -- only on some architectures ---------------------------------------------------------

ARCH_SPECIFIC: tuple[Group, ...] = (
    Group(
        "powerpc's sync_file_range and user contexts",
        ("sync_file_range2", "swapcontext"),
        arches=_arches(PPC64LE),
    ),
    Group(
        "ARM's own calls: fadvise and sync_file_range with ARM argument order, breakpoints, "
        "cache flushing for JITs, the TLS register",
        (
            "arm_fadvise64_64",
            "arm_sync_file_range",
            "sync_file_range2",
            "breakpoint",
            "cacheflush",
            "set_tls",
        ),
        arches=_arches(ARM, AARCH64),
    ),
    Group("x86-64's FS and GS base registers", ("arch_prctl",), arches=_arches(X86_64, X32)),
    Group(
        "x86's local descriptor table (Wine, old threading libraries)",
        ("modify_ldt",),
        arches=_arches(X86_64, X32, X86),
    ),
    Group(
        "s390's PCI memory access and runtime instrumentation",
        ("s390_pci_mmio_read", "s390_pci_mmio_write", "s390_runtime_instr"),
        arches=_arches(S390, S390X),
    ),
    Group(
        "RISC-V's instruction cache flush for JITs",
        ("riscv_flush_icache",),
        arches=_arches(RISCV64),
    ),
)

# -- only with a capability: the calls that capability governs --------------------------

WITH_CAPABILITY: tuple[Group, ...] = (
    Group(
        "open files by handle (it bypasses path permission checks)",
        ("open_by_handle_at",),
        caps=_caps("CAP_DAC_READ_SEARCH"),
    ),
    Group(
        "system administration: mounts and the mount API, namespaces (clone and clone3 "
        "with any flags, unshare, setns), host and domain names, BPF, perf events, fanotify, "
        "quotas, the kernel log, LSM attributes",
        (
            "mount",
            "umount",
            "umount2",
            "mount_setattr",
            "move_mount",
            "open_tree",
            "fsopen",
            "fsconfig",
            "fsmount",
            "fspick",
            "clone",
            "clone3",
            "unshare",
            "setns",
            "sethostname",
            "setdomainname",
            "bpf",
            "perf_event_open",
            "fanotify_init",
            "quotactl",
            "quotactl_fd",
            "syslog",
            "lookup_dcookie",
            "lsm_get_self_attr",
            "lsm_set_self_attr",
            "lsm_list_modules",
        ),
        caps=_caps("CAP_SYS_ADMIN"),
    ),
    Group("reboot (in a PID namespace: stop its init)", ("reboot",), caps=_caps("CAP_SYS_BOOT")),
    Group("change the root directory", ("chroot",), caps=_caps("CAP_SYS_CHROOT")),
    Group(
        "load and unload kernel modules",
        ("init_module", "finit_module", "delete_module"),
        caps=_caps("CAP_SYS_MODULE"),
    ),
    Group("process accounting", ("acct",), caps=_caps("CAP_SYS_PACCT")),
    Group(
        "inspect and control other processes: tracing, reading their memory, comparing "
        "and taking their descriptors, advising on their memory",
        (
            "ptrace",
            "process_vm_readv",
            "process_vm_writev",
            "kcmp",
            "pidfd_getfd",
            "process_madvise",
        ),
        caps=_caps("CAP_SYS_PTRACE"),
    ),
    Group("I/O port access", ("iopl", "ioperm"), caps=_caps("CAP_SYS_RAWIO")),
    Group(
        "set the system clock",
        ("settimeofday", "stime", "clock_settime", "clock_settime64"),
        caps=_caps("CAP_SYS_TIME"),
    ),
    Group("hang up the terminal", ("vhangup",), caps=_caps("CAP_SYS_TTY_CONFIG")),
    Group(
        "NUMA memory policy",
        ("get_mempolicy", "mbind", "set_mempolicy", "set_mempolicy_home_node"),
        caps=_caps("CAP_SYS_NICE"),
    ),
    Group("read the kernel log", ("syslog",), caps=_caps("CAP_SYSLOG")),
    Group("BPF programs and maps", ("bpf",), caps=_caps("CAP_BPF")),
    Group("performance monitoring", ("perf_event_open",), caps=_caps("CAP_PERFMON")),
)

# -- newer than this profile ------------------------------------------------------------

NEWER_THAN_PROFILE = Group(
    "calls newer than this profile (Linux 6.16 and later): refused as absent, so that "
    "programs fall back to the older calls allowed above",
    ("open_tree_attr", "file_getattr", "file_setattr", "listns"),
    errno=ENOSYS,
)

GROUPS: tuple[Group, ...] = (
    *ALWAYS,
    *LIMITED,
    *ARCH_SPECIFIC,
    *WITH_CAPABILITY,
    NEWER_THAN_PROFILE,
)

# -- refused on purpose (the default action does it; listed to say why) -----------------

DENIED: dict[str, tuple[str, ...]] = {
    "kernel keyrings are not namespaced: a container could read or exhaust the host's keys": (
        "add_key", "request_key", "keyctl",
    ),
    "swap is the host's": ("swapon", "swapoff"),
    "loading another kernel": ("kexec_load", "kexec_file_load"),
    "io_uring: a large, fast-moving kernel surface whose operations a filter cannot see": (
        "io_uring_setup", "io_uring_enter", "io_uring_register",
    ),
    "userfaultfd lets a program stall the kernel mid-copy, widening races exploits need": (
        "userfaultfd",
    ),
    "moving other processes' pages between NUMA nodes": ("migrate_pages", "move_pages"),
    "the runtime changes the root before the container starts; the container may not": (
        "pivot_root",
    ),
    "obsolete calls with replacements allowed above": (
        "nice", "signal", "sigaction", "sigsuspend", "sigpending", "sgetmask", "ssetmask",
        "oldstat", "oldfstat", "oldlstat", "readdir", "olduname", "oldolduname", "ustat",
        "sysfs", "_sysctl", "uselib", "bdflush",
    ),
    "never implemented by Linux, or removed from it": (
        "break", "stty", "gtty", "ftime", "prof", "lock", "mpx", "ulimit", "profil", "idle",
        "afs_syscall", "tuxcall", "security", "vserver", "getpmsg", "putpmsg",
        "create_module", "get_kernel_syms", "query_module", "nfsservctl",
        "arch_specific_syscall",
    ),
    "x86's virtual-8086 mode": ("vm86", "vm86old"),
    "ARM's PCI configuration space and old-ABI calls": (
        "pciconfig_iobase", "pciconfig_read", "pciconfig_write", "usr26", "usr32", "get_tls",
    ),
}  # fmt: skip


def default_profile(
    capabilities: Collection[str], arch: str | None = None, *, kernel: str | None = None
) -> dict[str, Any]:
    """The OCI `linux.seccomp` object for a container with this bounding set.

    `capabilities` are the container's bounding set (`CAP_SYS_ADMIN`; the prefix and case
    may vary); `arch` its native architecture (`uname -m`, GOARCH or SCMP_ARCH_* name; this
    machine's by default), whose sub-architectures are allowed too (x86_64: x86 and x32;
    aarch64: arm); `kernel` a `uname -r` string (this kernel's by default).
    Raises InvalidArgument for an unknown architecture.
    """
    native = target(arch)
    caps = normalise_capabilities(capabilities)
    version = kernel_version(kernel)
    syscalls: list[dict[str, Any]] = []
    for group in GROUPS:
        if group.applies(native.scmp, caps, version):
            syscalls.extend(group.rules())
    return {
        "defaultAction": "SCMP_ACT_ERRNO",
        "defaultErrnoRet": EPERM,
        "architectures": native.architectures(),
        "syscalls": syscalls,
    }


def normalise_capabilities(names: Iterable[str]) -> frozenset[str]:
    """`sys_admin`, `SYS_ADMIN` and `CAP_SYS_ADMIN` all as `CAP_SYS_ADMIN`."""
    result = set()
    for name in names:
        upper = name.upper()
        result.add(upper if upper.startswith("CAP_") else f"CAP_{upper}")
    return frozenset(result)
