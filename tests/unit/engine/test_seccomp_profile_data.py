"""The default profile's own data: every syscall capsa knows is either allowed by a group or
refused for a stated reason, and no group contradicts another."""

from __future__ import annotations

import pytest

from capsa.engine import seccomp_profile
from capsa.engine.seccomp_profile import (
    DENIED,
    GROUPS,
    NEWER_THAN_PROFILE,
    WITH_CAPABILITY,
    default_profile,
    normalise_capabilities,
)
from capsa.errors import InvalidArgument
from capsa.runtime.seccomp import tables

TABLES = ("X86_64", "X86", "X32", "AARCH64", "ARM")


def test_every_known_syscall_is_decided_on_purpose() -> None:
    allowed = {name for group in GROUPS for name in group.names}
    denied = {name for names in DENIED.values() for name in names}
    for table in TABLES:
        unaccounted = sorted(set(getattr(tables, table)) - allowed - denied)
        assert not unaccounted, f"{table}: allow them in a group or say in DENIED why not"


def test_denied_calls_are_never_allowed() -> None:
    denied = {name for names in DENIED.values() for name in names}
    for group in GROUPS:
        assert not denied & set(group.names), group.purpose


def test_a_name_appears_once_among_the_unconditional_groups() -> None:
    seen: dict[str, str] = {}
    for group in seccomp_profile.ALWAYS:
        for name in group.names:
            assert name not in seen, f"{name} in {group.purpose!r} and {seen[name]!r}"
            seen[name] = group.purpose


def test_capability_groups_name_real_capabilities() -> None:
    from capsa.oci.capabilities import CAPABILITIES

    for group in WITH_CAPABILITY:
        assert group.caps and group.caps <= set(CAPABILITIES), group.purpose


def test_newer_than_profile_calls_answer_enosys() -> None:
    profile = default_profile([], "x86_64", kernel="6.1")
    rules = [rule for rule in profile["syscalls"] if "open_tree_attr" in rule["names"]]
    assert rules == [
        {"names": list(NEWER_THAN_PROFILE.names), "action": "SCMP_ACT_ERRNO", "errnoRet": 38}
    ]
    assert profile["defaultAction"] == "SCMP_ACT_ERRNO"
    assert profile["defaultErrnoRet"] == 1


@pytest.mark.parametrize(
    ("arch", "architectures"),
    [
        ("x86_64", ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"]),
        ("amd64", ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"]),
        ("SCMP_ARCH_X86_64", ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"]),
        ("aarch64", ["SCMP_ARCH_AARCH64", "SCMP_ARCH_ARM"]),
        ("arm64", ["SCMP_ARCH_AARCH64", "SCMP_ARCH_ARM"]),
        ("s390x", ["SCMP_ARCH_S390X", "SCMP_ARCH_S390"]),
        ("riscv64", ["SCMP_ARCH_RISCV64"]),
        ("i686", []),  # not in Docker's archMap: the runtime's native ABI only
        ("armv7l", []),
        ("ppc64le", []),
    ],
)
def test_architectures_and_their_sub_architectures(arch: str, architectures: list[str]) -> None:
    assert default_profile([], arch, kernel="6.1")["architectures"] == architectures


def test_arch_specific_calls_follow_the_native_architecture() -> None:
    def names(arch: str) -> set[str]:
        profile = default_profile([], arch, kernel="6.1")
        return {name for rule in profile["syscalls"] for name in rule["names"]}

    assert {"arch_prctl", "modify_ldt"} <= names("x86_64")
    assert "modify_ldt" in names("i686") and "arch_prctl" not in names("i686")
    assert {"cacheflush", "set_tls"} <= names("aarch64")
    assert not {"arch_prctl", "cacheflush"} & names("riscv64")
    assert "riscv_flush_icache" in names("riscv64")


def test_s390_checks_clones_second_argument() -> None:
    profile = default_profile([], "s390x", kernel="6.1")
    (clone,) = [rule for rule in profile["syscalls"] if rule["names"] == ["clone"]]
    assert clone["args"] == [{"index": 1, "value": 0x7E020000, "op": "SCMP_CMP_MASKED_EQ"}]


def test_capability_names_in_any_spelling() -> None:
    assert normalise_capabilities(["sys_admin", "CAP_BPF", "Net_Raw"]) == {
        "CAP_SYS_ADMIN",
        "CAP_BPF",
        "CAP_NET_RAW",
    }
    admin = default_profile(["sys_admin"], "x86_64", kernel="6.1")
    assert any("mount" in rule["names"] for rule in admin["syscalls"])


def test_unknown_architecture_is_refused_by_name() -> None:
    with pytest.raises(InvalidArgument, match="'sparc64'"):
        default_profile([], "sparc64")


def test_the_host_kernel_and_architecture_by_default() -> None:
    # This kernel is newer than 4.8, so ptrace is allowed without CAP_SYS_PTRACE.
    profile = default_profile([])
    assert any("ptrace" in rule["names"] for rule in profile["syscalls"])
