"""Docker's default profile: size, and every syscall's verdict against the reference."""

from __future__ import annotations

import random
from typing import Any

import pytest
from seccomp_docker_profile import docker_default_oci
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
from seccomp_reference import expected_verdict

from capsa.runtime.seccomp import compile_seccomp, tables
from capsa.runtime.seccomp.bpf import BPF_MAXINSNS

EPERM = RET_ERRNO | 1
ENOSYS = RET_ERRNO | 38
CLONE_NEWUSER = 0x10000000
SIGCHLD = 17


@pytest.fixture(scope="module")
def amd64() -> dict[str, Any]:
    return docker_default_oci("amd64")


@pytest.fixture(scope="module")
def amd64_filter(amd64: dict[str, Any]) -> Filter:
    return Filter(compile_seccomp(amd64, "x86_64").program)


def test_profile_is_docker_sized(amd64: dict[str, Any]) -> None:
    allowed = {
        name
        for rule in amd64["syscalls"]
        if rule["action"] == "SCMP_ACT_ALLOW" and not rule.get("args")
        for name in rule["names"]
    }
    assert len(allowed) > 340
    assert amd64["architectures"] == ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"]


def test_fits_the_kernel_with_room_to_spare(amd64: dict[str, Any]) -> None:
    compiled = compile_seccomp(amd64, "x86_64")
    assert compiled.instructions < 600 < BPF_MAXINSNS
    arm64 = compile_seccomp(docker_default_oci("arm64"), "aarch64")
    assert arm64.instructions < 600


def test_search_depth_is_logarithmic(amd64_filter: Filter) -> None:
    # A plain allowed syscall costs a handful of comparisons, not a linear scan.
    steps = [amd64_filter.run(nr).steps for nr in tables.X86_64.values()]
    assert max(steps) < 40
    assert sum(steps) / len(steps) < 15


@pytest.mark.parametrize(
    ("audit", "table", "bits"),
    [
        (AUDIT_ARCH_X86_64, tables.X86_64, 64),
        (AUDIT_ARCH_I386, tables.X86, 32),
        (AUDIT_ARCH_X86_64, tables.X32, 64),
    ],
    ids=["x86_64", "x86", "x32"],
)
def test_every_syscall_matches_the_reference(
    amd64: dict[str, Any], amd64_filter: Filter, audit: int, table: dict[str, int], bits: int
) -> None:
    rng = random.Random(1)
    interesting = [0, 1, 8, 38, 39, 40, 41, 0x20000, 0xFFFFFFFF, CLONE_NEWUSER | SIGCHLD]
    numbers = sorted(set(table.values()))
    for nr in numbers:
        assert amd64_filter.verdict(nr, audit) == expected_verdict(amd64, table, nr, bits=bits)
        for value in interesting:
            args = [value, *[rng.getrandbits(64) for _ in range(5)]]
            verdict = amd64_filter.verdict(nr, audit, args)
            assert verdict == expected_verdict(amd64, table, nr, args, bits), (nr, args)
    for nr in range(numbers[0], numbers[-1] + 2):
        if nr not in table.values():
            assert amd64_filter.verdict(nr, audit) == EPERM


def test_known_decisions(amd64_filter: Filter) -> None:
    nr = tables.X86_64
    verdict = amd64_filter.verdict
    for name in ("read", "write", "openat", "execve", "exit_group", "futex", "epoll_pwait"):
        assert verdict(nr[name]) == RET_ALLOW, name
    for name in ("mount", "unshare", "setns", "reboot", "kexec_load", "bpf", "init_module"):
        assert verdict(nr[name]) == EPERM, name
    assert verdict(nr["clone"], args=[SIGCHLD]) == RET_ALLOW
    assert verdict(nr["clone"], args=[CLONE_NEWUSER | SIGCHLD]) == EPERM
    assert verdict(nr["clone3"]) == ENOSYS  # so that libc falls back to clone
    assert verdict(nr["socket"], args=[2]) == RET_ALLOW  # AF_INET
    assert verdict(nr["socket"], args=[40]) == EPERM  # AF_VSOCK
    # Arguments compare as 64-bit values, as libseccomp does on x86_64: (1 << 32) | 40 is
    # "greater than 40" there, although the kernel reads the int 40 (AF_VSOCK).
    assert verdict(nr["socket"], args=[(1 << 32) | 40]) == RET_ALLOW
    assert verdict(nr["personality"], args=[0xFFFFFFFF]) == RET_ALLOW
    assert verdict(nr["personality"], args=[1]) == EPERM
    assert verdict(tables.X86["socketcall"], AUDIT_ARCH_I386) == RET_ALLOW
    assert verdict(tables.X32["read"]) == RET_ALLOW
    assert verdict(nr["read"], AUDIT_ARCH_AARCH64) == RET_KILL_PROCESS


def test_arm64_profile_with_arm_compat() -> None:
    profile = docker_default_oci("arm64")
    assert profile["architectures"] == ["SCMP_ARCH_AARCH64", "SCMP_ARCH_ARM"]
    bpf = Filter(compile_seccomp(profile, "aarch64").program)
    for audit, table, bits in (
        (AUDIT_ARCH_AARCH64, tables.AARCH64, 64),
        (AUDIT_ARCH_ARM, tables.ARM, 32),
    ):
        for nr in sorted(set(table.values())):
            for args in ([0] * 6, [CLONE_NEWUSER] * 6, [40] * 6):
                assert bpf.verdict(nr, audit, args) == expected_verdict(
                    profile, table, nr, args, bits
                ), (hex(audit), nr, args)
    assert bpf.verdict(tables.ARM["cacheflush"], AUDIT_ARCH_ARM) == RET_ALLOW
    assert bpf.verdict(0, AUDIT_ARCH_X86_64) == RET_KILL_PROCESS
