"""The seccomp compiler: OCI `linux.seccomp` JSON -> classic-BPF filter, in pure Python.

    compiled = compile_seccomp(spec["linux"]["seccomp"])   # validates, raises naming fields
    load(compiled)                                          # needs no_new_privs or CAP_SYS_ADMIN

Supported architectures: x86_64, x86, x32, aarch64, arm. See compiler.py for the
semantics (first matching rule wins per syscall, unknown names ignored, foreign ABIs killed)
and profile.py for what is accepted.
"""

from __future__ import annotations

from capsa._record import Record

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Mapping
    from typing import Any

__all__ = [
    "KNOWN_FLAGS",
    "SUPPORTED_ACTIONS",
    "SUPPORTED_ARCHES",
    "SUPPORTED_FLAGS",
    "SUPPORTED_OPERATORS",
    "CompiledFilter",
    "compile_seccomp",
    "load",
]

# What `capsa-runtime features` reports (runtime-spec features-linux.md). Plain literals so
# that importing this package stays cheap; a unit test keeps them equal to what
# profile.py and arches.py accept.
SUPPORTED_ACTIONS = (
    "SCMP_ACT_ALLOW",
    "SCMP_ACT_ERRNO",
    "SCMP_ACT_KILL",
    "SCMP_ACT_KILL_PROCESS",
    "SCMP_ACT_KILL_THREAD",
    "SCMP_ACT_LOG",
    "SCMP_ACT_TRACE",
    "SCMP_ACT_TRAP",
)  # not SCMP_ACT_NOTIFY: there is no user-notification listener yet
SUPPORTED_OPERATORS = (
    "SCMP_CMP_EQ",
    "SCMP_CMP_GE",
    "SCMP_CMP_GT",
    "SCMP_CMP_LE",
    "SCMP_CMP_LT",
    "SCMP_CMP_MASKED_EQ",
    "SCMP_CMP_NE",
)
SUPPORTED_ARCHES = (
    "SCMP_ARCH_AARCH64",
    "SCMP_ARCH_ARM",
    "SCMP_ARCH_X32",
    "SCMP_ARCH_X86",
    "SCMP_ARCH_X86_64",
)
# Accepted in `flags`; WAIT_KILLABLE_RECV only matters with a listener, so it has no effect.
KNOWN_FLAGS = (
    "SECCOMP_FILTER_FLAG_LOG",
    "SECCOMP_FILTER_FLAG_SPEC_ALLOW",
    "SECCOMP_FILTER_FLAG_TSYNC",
    "SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV",
)
# Flags that take effect (every kernel capsa supports, 4.17+, has them).
SUPPORTED_FLAGS = (
    "SECCOMP_FILTER_FLAG_LOG",
    "SECCOMP_FILTER_FLAG_SPEC_ALLOW",
    "SECCOMP_FILTER_FLAG_TSYNC",
)


class CompiledFilter(Record):
    """A seccomp program ready for seccomp(SECCOMP_SET_MODE_FILTER, flags, ...)."""

    __slots__ = ("flags", "ignored_syscalls", "instructions", "program")

    def __init__(
        self,
        program: bytes,
        flags: int,
        instructions: int,
        ignored_syscalls: tuple[str, ...] = (),
    ) -> None:
        self.program = program  # packed 8-byte struct sock_filter records
        self.flags = flags  # SECCOMP_FILTER_FLAG_* bits
        self.instructions = instructions
        # Names in the profile that no included architecture knows (runc skips them too);
        # worth a debug log line.
        self.ignored_syscalls = ignored_syscalls


_COMPILED: dict[str, CompiledFilter] = {}
_CACHE_SIZE = 16


def compile_seccomp_cached(seccomp: Mapping[str, Any]) -> CompiledFilter:
    """compile_seccomp() for this machine, remembered by the profile's content: a process
    that starts many containers (the engine's monitor host and the workers it forks)
    compiles each profile once. The key is the profile's repr (no json import on the
    runtime's start path); the same profile built in another order is only a miss."""
    key = repr(seccomp)
    found = _COMPILED.get(key)
    if found is None:
        found = compile_seccomp(seccomp)
        if len(_COMPILED) >= _CACHE_SIZE:
            _COMPILED.pop(next(iter(_COMPILED)))
        _COMPILED[key] = found
    return found


def compile_seccomp(seccomp: Mapping[str, Any], arch: str | None = None) -> CompiledFilter:
    """Validate and compile `linux.seccomp` for `arch` (default: this machine).

    `arch` is the native ABI of the container process, as `uname -m`, a Go GOARCH or a
    SCMP_ARCH_* name. Raises InvalidArgument naming the bad field, or Unavailable for
    features capsa does not implement (SCMP_ACT_NOTIFY).
    """
    # Imported here: a process that only loads a filter compiled elsewhere (the container's
    # init) should not pay for the compiler and its syscall tables.
    from capsa.errors import field_error
    from capsa.runtime.seccomp.arches import target_arch
    from capsa.runtime.seccomp.bpf import ProgramTooLarge
    from capsa.runtime.seccomp.compiler import compile_profile
    from capsa.runtime.seccomp.profile import parse_profile

    profile = parse_profile(seccomp)
    native = target_arch(arch)
    try:
        program, ignored = compile_profile(profile, native)
    except ProgramTooLarge as error:
        raise field_error(
            "linux.seccomp",
            f"the filter compiles to {error}",
            hint="use fewer argument conditions or merge rules",
        ) from None
    return CompiledFilter(program, profile.flags, len(program) // 8, ignored)


def load(compiled: CompiledFilter) -> None:
    """Install the filter on the calling thread (all threads with SECCOMP_FILTER_FLAG_TSYNC).

    The caller must have set no_new_privs or hold CAP_SYS_ADMIN; raises OSError otherwise.
    """
    from capsa.kernel.process import load_seccomp_filter

    load_seccomp_filter(compiled.program, compiled.flags)
