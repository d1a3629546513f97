"""capsa's default profile compiled by capsa's seccomp compiler, for each capability set a
container commonly has, and the filter's decisions read back from the BPF program."""

from __future__ import annotations

import random
import sys
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "seccomp"))
from seccomp_interp import (
    AUDIT_ARCH_AARCH64,
    AUDIT_ARCH_ARM,
    AUDIT_ARCH_I386,
    AUDIT_ARCH_X86_64,
    RET_ALLOW,
    RET_ERRNO,
    RET_KILL_PROCESS,
    Filter,
)

from capsa.engine.capabilities import DEFAULT_CAPABILITIES, resolve_capabilities
from capsa.engine.seccomp_profile import CLONE_NEWNS, CLONE_NEWUSER, default_profile
from capsa.engine.security_opts import SecurityOptions, seccomp_for
from capsa.runtime.seccomp import compile_seccomp, tables
from capsa.runtime.seccomp.bpf import BPF_MAXINSNS

EPERM = RET_ERRNO | 1
ENOSYS = RET_ERRNO | 38
SIGCHLD = 17
AF_INET, AF_ALG, AF_NFC, AF_VSOCK, AF_XDP = 2, 38, 39, 40, 44

VARIANTS: dict[str, list[str]] = {
    "default": [],
    "+SYS_ADMIN": ["SYS_ADMIN"],
    "+SYS_PTRACE": ["SYS_PTRACE"],
}


def bounding(adds: list[str]) -> list[str]:
    return resolve_capabilities(adds, [], False, last_cap=40, bounding=(1 << 64) - 1)["bounding"]


@pytest.fixture(scope="module", params=sorted(VARIANTS))
def variant(request: pytest.FixtureRequest) -> tuple[str, Filter, dict[str, Any]]:
    caps = bounding(VARIANTS[request.param])
    profile = default_profile(caps, "x86_64", kernel="6.1.0")
    compiled = compile_seccomp(profile, "x86_64")
    assert compiled.instructions < BPF_MAXINSNS // 4
    return request.param, Filter(compiled.program), profile


def test_everyday_calls_are_allowed(variant: tuple[str, Filter, dict[str, Any]]) -> None:
    _, bpf, _ = variant
    nr = tables.X86_64
    for name in (
        "read", "write", "openat", "close", "execve", "exit_group", "mmap", "futex",
        "epoll_pwait", "wait4", "kill", "getuid", "setuid", "capget", "clock_gettime",
        "statx", "getdents64", "connect", "sendmsg", "arch_prctl", "rseq", "ptrace",
    ):  # fmt: skip
        assert bpf.verdict(nr[name]) == RET_ALLOW, name
    assert bpf.verdict(nr["clone"], args=[SIGCHLD]) == RET_ALLOW
    for family in (AF_INET, AF_NFC, AF_XDP):
        assert bpf.verdict(nr["socket"], args=[family]) == RET_ALLOW, family
    for persona in (0, 8, 0x20000, 0x20008, 0xFFFFFFFF):
        assert bpf.verdict(nr["personality"], args=[persona]) == RET_ALLOW, persona
    assert bpf.verdict(tables.X86["socketcall"], AUDIT_ARCH_I386) == RET_ALLOW
    assert bpf.verdict(tables.X32["read"]) == RET_ALLOW


def test_dangerous_calls_are_refused_whatever_the_capabilities(
    variant: tuple[str, Filter, dict[str, Any]],
) -> None:
    _, bpf, _ = variant
    nr = tables.X86_64
    for name in (
        "keyctl", "add_key", "request_key", "swapon", "swapoff", "kexec_load",
        "io_uring_setup", "userfaultfd", "pivot_root", "reboot", "init_module", "iopl",
        "settimeofday", "acct", "open_by_handle_at", "move_pages",
    ):  # fmt: skip
        assert bpf.verdict(nr[name]) == EPERM, name
    for family in (AF_ALG, AF_VSOCK):
        assert bpf.verdict(nr["socket"], args=[family]) == EPERM, family
    for persona in (1, 0x0040000, 0x0400000, 0x20001):  # odd domains, ADDR_NO_RANDOMIZE...
        assert bpf.verdict(nr["personality"], args=[persona]) == EPERM, persona
    for name in ("open_tree_attr", "file_getattr", "listns"):
        assert bpf.verdict(nr[name]) == ENOSYS, name
    assert bpf.verdict(nr["read"], AUDIT_ARCH_AARCH64) == RET_KILL_PROCESS


def test_namespaces_and_mounts_need_sys_admin(variant: tuple[str, Filter, dict[str, Any]]) -> None:
    label, bpf, _ = variant
    nr = tables.X86_64
    admin = label == "+SYS_ADMIN"
    allowed_if_admin = RET_ALLOW if admin else EPERM
    for name in ("mount", "umount2", "unshare", "setns", "sethostname", "bpf", "fsopen"):
        assert bpf.verdict(nr[name]) == allowed_if_admin, (label, name)
    for flag in (CLONE_NEWUSER, CLONE_NEWNS):
        verdict = bpf.verdict(nr["clone"], args=[flag | SIGCHLD])
        assert verdict == allowed_if_admin, (label, hex(flag))
    assert bpf.verdict(nr["clone3"]) == (RET_ALLOW if admin else ENOSYS)
    assert bpf.verdict(tables.X86["clone"], AUDIT_ARCH_I386, [CLONE_NEWUSER]) == allowed_if_admin


def test_inspecting_other_processes_needs_sys_ptrace(
    variant: tuple[str, Filter, dict[str, Any]],
) -> None:
    label, bpf, _ = variant
    nr = tables.X86_64
    expected = RET_ALLOW if label == "+SYS_PTRACE" else EPERM
    for name in ("kcmp", "pidfd_getfd", "process_madvise"):
        assert bpf.verdict(nr[name]) == expected, (label, name)
    # ptrace itself is allowed to everyone on 4.8 and later kernels; the kernel's own
    # checks (same user, no more capabilities than the tracer) stand behind it.
    for name in ("ptrace", "process_vm_readv", "process_vm_writev"):
        assert bpf.verdict(nr[name]) == RET_ALLOW, (label, name)


def test_ptrace_is_refused_on_kernels_before_4_8_without_sys_ptrace() -> None:
    old = default_profile(bounding([]), "x86_64", kernel="4.4.0")
    bpf = Filter(compile_seccomp(old, "x86_64").program)
    assert bpf.verdict(tables.X86_64["ptrace"]) == EPERM
    traced = default_profile(bounding(["SYS_PTRACE"]), "x86_64", kernel="4.4.0")
    bpf = Filter(compile_seccomp(traced, "x86_64").program)
    assert bpf.verdict(tables.X86_64["ptrace"]) == RET_ALLOW


def test_aarch64_with_its_arm_compat_abi() -> None:
    profile = default_profile(DEFAULT_CAPABILITIES, "aarch64", kernel="6.1")
    assert profile["architectures"] == ["SCMP_ARCH_AARCH64", "SCMP_ARCH_ARM"]
    bpf = Filter(compile_seccomp(profile, "aarch64").program)
    assert bpf.verdict(tables.AARCH64["openat"], AUDIT_ARCH_AARCH64) == RET_ALLOW
    assert bpf.verdict(tables.AARCH64["mount"], AUDIT_ARCH_AARCH64) == EPERM
    assert bpf.verdict(tables.ARM["cacheflush"], AUDIT_ARCH_ARM) == RET_ALLOW
    assert bpf.verdict(tables.ARM["keyctl"], AUDIT_ARCH_ARM) == EPERM
    assert bpf.verdict(0, AUDIT_ARCH_X86_64) == RET_KILL_PROCESS


def test_same_verdict_as_dockers_profile_for_every_syscall() -> None:
    """Compiled, both profiles decide alike for every syscall number and sample arguments,
    but for the calls newer than Docker's profile, which ours answers ENOSYS."""
    from docker_reference import docker_profile, docker_resolve

    facts = docker_profile()
    newer = ("open_tree_attr", "file_getattr", "file_setattr", "listns")
    rng = random.Random(4)
    cases = [
        ("amd64", "x86_64", [(AUDIT_ARCH_X86_64, tables.X86_64), (AUDIT_ARCH_I386, tables.X86),
                             (AUDIT_ARCH_X86_64, tables.X32)]),
        ("arm64", "aarch64", [(AUDIT_ARCH_AARCH64, tables.AARCH64), (AUDIT_ARCH_ARM, tables.ARM)]),
    ]  # fmt: skip
    for label, adds in VARIANTS.items():
        caps = bounding(adds)
        for goarch, arch, abis in cases:
            ours = Filter(compile_seccomp(default_profile(caps, arch, kernel="6.1"), arch).program)
            theirs_profile = docker_resolve(facts, goarch, caps, "6.1")
            theirs = Filter(compile_seccomp(theirs_profile, arch).program)
            for audit, table in abis:
                newer_numbers = {table[name] for name in newer if name in table}
                numbers = sorted(set(table.values()))
                unnamed = [nr for nr in range(numbers[0], 600) if nr not in table.values()]
                for nr in [*numbers, *unnamed[:20], numbers[-1] + 1]:
                    for first in (0, SIGCHLD, CLONE_NEWUSER, AF_ALG, AF_VSOCK, rng.getrandbits(32)):
                        args = [first, *(rng.getrandbits(64) for _ in range(5))]
                        mine = ours.verdict(nr, audit, args)
                        if nr in newer_numbers:
                            assert mine == ENOSYS
                            continue
                        assert mine == theirs.verdict(nr, audit, args), (label, arch, nr, args)


def test_privileged_and_unconfined_containers_get_no_filter() -> None:
    # The decision is the engine's (Docker's rule): seccomp_for() makes it in one place.
    caps = bounding([])
    assert seccomp_for(SecurityOptions(), caps, privileged=True) is None
    assert seccomp_for(SecurityOptions(seccomp="unconfined"), caps, privileged=False) is None
    assert seccomp_for(SecurityOptions(), caps, privileged=False) == default_profile(caps)
