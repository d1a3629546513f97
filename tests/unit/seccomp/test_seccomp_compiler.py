"""Compiled programs, run in a BPF interpreter against many syscalls and arguments."""

from __future__ import annotations

import random
from typing import Any

import pytest
from seccomp_interp import (
    AUDIT_ARCH_AARCH64,
    AUDIT_ARCH_ARM,
    AUDIT_ARCH_I386,
    AUDIT_ARCH_X86_64,
    RET_ALLOW,
    RET_ERRNO,
    RET_KILL_PROCESS,
    RET_KILL_THREAD,
    RET_LOG,
    RET_TRACE,
    RET_TRAP,
    X32_BIT,
    Filter,
)

from capsa.errors import InvalidArgument, Unavailable
from capsa.runtime.seccomp import CompiledFilter, compile_seccomp, load, tables

X86_64 = tables.X86_64
X86 = tables.X86
X32 = tables.X32
AARCH64 = tables.AARCH64
ARM = tables.ARM
U64 = (1 << 64) - 1


def build(seccomp: dict[str, Any], arch: str = "x86_64") -> Filter:
    compiled = compile_seccomp(seccomp, arch)
    assert compiled.instructions * 8 == len(compiled.program)
    return Filter(compiled.program)


def allow_list(names: list[str], **extra: Any) -> dict[str, Any]:
    return {
        "defaultAction": "SCMP_ACT_ERRNO",
        "syscalls": [{"names": names, "action": "SCMP_ACT_ALLOW"}],
        **extra,
    }


# --- actions -------------------------------------------------------------------------------


def test_allow_list_with_default_errno_eperm() -> None:
    bpf = build(allow_list(["read", "write", "exit_group"]))
    for name in ("read", "write", "exit_group"):
        assert bpf.verdict(X86_64[name]) == RET_ALLOW
    assert bpf.verdict(X86_64["mkdir"]) == RET_ERRNO | 1
    assert bpf.verdict(X86_64["openat"]) == RET_ERRNO | 1
    assert bpf.verdict(5000) == RET_ERRNO | 1
    assert bpf.verdict(0xFFFFFFFF) == RET_KILL_PROCESS  # x32 range, X32 not allowed


@pytest.mark.parametrize(
    ("action", "errno_ret", "verdict"),
    [
        ("SCMP_ACT_KILL", None, RET_KILL_THREAD),
        ("SCMP_ACT_KILL_THREAD", None, RET_KILL_THREAD),
        ("SCMP_ACT_KILL_PROCESS", None, RET_KILL_PROCESS),
        ("SCMP_ACT_TRAP", None, RET_TRAP),
        ("SCMP_ACT_ERRNO", None, RET_ERRNO | 1),
        ("SCMP_ACT_ERRNO", 38, RET_ERRNO | 38),
        ("SCMP_ACT_ERRNO", 0, RET_ERRNO | 0),
        ("SCMP_ACT_ERRNO", 0xFFFF, RET_ERRNO | 0xFFFF),
        ("SCMP_ACT_TRACE", None, RET_TRACE | 1),
        ("SCMP_ACT_TRACE", 1234, RET_TRACE | 1234),
        ("SCMP_ACT_ALLOW", None, RET_ALLOW),
        ("SCMP_ACT_LOG", None, RET_LOG),
    ],
)
def test_every_action(action: str, errno_ret: int | None, verdict: int) -> None:
    rule: dict[str, Any] = {"names": ["getcwd"], "action": action}
    if errno_ret is not None:
        rule["errnoRet"] = errno_ret
    other = "SCMP_ACT_LOG" if action == "SCMP_ACT_ALLOW" else "SCMP_ACT_ALLOW"
    bpf = build({"defaultAction": other, "syscalls": [rule]})
    assert bpf.verdict(X86_64["getcwd"]) == verdict
    assert bpf.verdict(X86_64["getpid"]) == (RET_LOG if other == "SCMP_ACT_LOG" else RET_ALLOW)


@pytest.mark.parametrize(
    ("default", "errno_ret", "verdict"),
    [
        ("SCMP_ACT_ERRNO", None, RET_ERRNO | 1),
        ("SCMP_ACT_ERRNO", 13, RET_ERRNO | 13),
        ("SCMP_ACT_TRACE", 7, RET_TRACE | 7),
        ("SCMP_ACT_KILL", None, RET_KILL_THREAD),
        ("SCMP_ACT_KILL_PROCESS", None, RET_KILL_PROCESS),
        ("SCMP_ACT_LOG", None, RET_LOG),
        ("SCMP_ACT_TRAP", None, RET_TRAP),
    ],
)
def test_default_action(default: str, errno_ret: int | None, verdict: int) -> None:
    seccomp: dict[str, Any] = {
        "defaultAction": default,
        "syscalls": [{"names": ["read"], "action": "SCMP_ACT_ALLOW"}],
    }
    if errno_ret is not None:
        seccomp["defaultErrnoRet"] = errno_ret
    bpf = build(seccomp)
    assert bpf.verdict(X86_64["read"]) == RET_ALLOW
    assert bpf.verdict(X86_64["write"]) == verdict


def test_allow_everything_is_tiny() -> None:
    compiled = compile_seccomp({"defaultAction": "SCMP_ACT_ALLOW"}, "x86_64")
    bpf = Filter(compiled.program)
    assert compiled.instructions <= 8
    assert bpf.verdict(0) == RET_ALLOW
    assert bpf.verdict(0, arch=AUDIT_ARCH_AARCH64) == RET_KILL_PROCESS
    assert bpf.verdict(X32_BIT) == RET_KILL_PROCESS


def test_flags() -> None:
    compiled = compile_seccomp(
        {
            "defaultAction": "SCMP_ACT_ALLOW",
            "flags": [
                "SECCOMP_FILTER_FLAG_TSYNC",
                "SECCOMP_FILTER_FLAG_LOG",
                "SECCOMP_FILTER_FLAG_SPEC_ALLOW",
                "SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV",
            ],
        },
        "x86_64",
    )
    assert compiled.flags == 1 | 2 | 4
    assert compile_seccomp({"defaultAction": "SCMP_ACT_ALLOW"}, "x86_64").flags == 0


# --- architectures -------------------------------------------------------------------------


def test_foreign_architecture_is_killed() -> None:
    bpf = build(allow_list(["read"]))
    for arch in (AUDIT_ARCH_I386, AUDIT_ARCH_AARCH64, AUDIT_ARCH_ARM, 0, 0xFFFFFFFF):
        assert bpf.verdict(0, arch=arch) == RET_KILL_PROCESS


def test_x32_calls_never_match_x86_64_rules() -> None:
    bpf = build({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": []})
    assert bpf.verdict(X86_64["read"]) == RET_ALLOW
    for nr in (X32["read"], X32["execve"], X32_BIT, X32_BIT | X86_64["read"], 0x7FFFFFFF):
        assert bpf.verdict(nr) == RET_KILL_PROCESS

    errno_default = build(allow_list(["read", "execve"]))
    assert errno_default.verdict(X32["read"]) == RET_KILL_PROCESS
    assert errno_default.verdict(X32["execve"]) == RET_KILL_PROCESS


def test_x32_listed_uses_x32_numbers() -> None:
    bpf = build(
        allow_list(
            ["read", "execve", "rt_sigaction"],
            architectures=["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"],
        )
    )
    assert bpf.verdict(X86_64["read"]) == RET_ALLOW
    assert bpf.verdict(X32["read"]) == RET_ALLOW
    assert X32["execve"] == X32_BIT | 520  # the legacy x32-only range
    assert bpf.verdict(X32["execve"]) == RET_ALLOW
    assert bpf.verdict(X32_BIT | X86_64["execve"]) == RET_ERRNO | 1  # 59 is not x32 execve
    assert bpf.verdict(X32["write"]) == RET_ERRNO | 1
    assert bpf.verdict(X86["read"], arch=AUDIT_ARCH_I386) == RET_ALLOW
    assert bpf.verdict(X86["write"], arch=AUDIT_ARCH_I386) == RET_ERRNO | 1
    assert bpf.verdict(0, arch=AUDIT_ARCH_AARCH64) == RET_KILL_PROCESS


def test_native_architecture_is_always_included() -> None:
    bpf = build(allow_list(["openat"], architectures=["SCMP_ARCH_X86"]))
    assert bpf.verdict(X86_64["openat"]) == RET_ALLOW
    assert bpf.verdict(X86["openat"], arch=AUDIT_ARCH_I386) == RET_ALLOW
    assert bpf.verdict(X32["openat"]) == RET_KILL_PROCESS


def test_x32_as_native_target_kills_x86_64_calls() -> None:
    bpf = build(allow_list(["read"]), arch="x32")
    assert bpf.verdict(X32["read"]) == RET_ALLOW
    assert bpf.verdict(X86_64["read"]) == RET_KILL_PROCESS


def test_aarch64_with_arm_compat() -> None:
    names = ["openat", "read", "cacheflush", "set_tls", "arm_fadvise64_64", "renameat"]
    bpf = build(allow_list(names, architectures=["SCMP_ARCH_ARM"]), arch="aarch64")
    assert bpf.verdict(AARCH64["openat"], arch=AUDIT_ARCH_AARCH64) == RET_ALLOW
    assert bpf.verdict(AARCH64["renameat"], arch=AUDIT_ARCH_AARCH64) == RET_ALLOW
    assert bpf.verdict(AARCH64["write"], arch=AUDIT_ARCH_AARCH64) == RET_ERRNO | 1
    assert bpf.verdict(ARM["openat"], arch=AUDIT_ARCH_ARM) == RET_ALLOW
    assert bpf.verdict(ARM["cacheflush"], arch=AUDIT_ARCH_ARM) == RET_ALLOW
    assert ARM["set_tls"] == 0x0F0005
    assert bpf.verdict(ARM["set_tls"], arch=AUDIT_ARCH_ARM) == RET_ALLOW
    assert bpf.verdict(ARM["breakpoint"], arch=AUDIT_ARCH_ARM) == RET_ERRNO | 1
    assert bpf.verdict(ARM["write"], arch=AUDIT_ARCH_ARM) == RET_ERRNO | 1
    assert bpf.verdict(0, arch=AUDIT_ARCH_X86_64) == RET_KILL_PROCESS


@pytest.mark.parametrize(
    ("target", "audit", "table"),
    [
        ("x86_64", AUDIT_ARCH_X86_64, X86_64),
        ("amd64", AUDIT_ARCH_X86_64, X86_64),
        ("SCMP_ARCH_X86_64", AUDIT_ARCH_X86_64, X86_64),
        ("i686", AUDIT_ARCH_I386, X86),
        ("386", AUDIT_ARCH_I386, X86),
        ("aarch64", AUDIT_ARCH_AARCH64, AARCH64),
        ("arm64", AUDIT_ARCH_AARCH64, AARCH64),
        ("armv7l", AUDIT_ARCH_ARM, ARM),
        ("arm", AUDIT_ARCH_ARM, ARM),
    ],
)
def test_target_architecture_names(target: str, audit: int, table: dict[str, int]) -> None:
    bpf = build(allow_list(["getpid"]), arch=target)
    assert bpf.verdict(table["getpid"], arch=audit) == RET_ALLOW
    assert bpf.verdict(table["close"], arch=audit) == RET_ERRNO | 1


def test_unknown_target_architecture() -> None:
    with pytest.raises(InvalidArgument, match="unknown target architecture 'sparc'"):
        compile_seccomp({"defaultAction": "SCMP_ACT_ALLOW"}, "sparc")


def test_host_architecture_by_default() -> None:
    compiled = compile_seccomp(allow_list(["read"]))
    assert compiled.instructions > 0


# --- argument comparisons ------------------------------------------------------------------


def arg_rule(op: str, value: int, index: int = 0, value_two: int | None = None) -> dict[str, Any]:
    arg: dict[str, Any] = {"index": index, "value": value, "op": op}
    if value_two is not None:
        arg["valueTwo"] = value_two
    return {
        "defaultAction": "SCMP_ACT_ALLOW",
        "syscalls": [
            {"names": ["personality"], "action": "SCMP_ACT_ERRNO", "errnoRet": 77, "args": [arg]}
        ],
    }


def reference(op: str, arg: int, value: int, value_two: int = 0) -> bool:
    return {
        "SCMP_CMP_EQ": arg == value,
        "SCMP_CMP_NE": arg != value,
        "SCMP_CMP_LT": arg < value,
        "SCMP_CMP_LE": arg <= value,
        "SCMP_CMP_GT": arg > value,
        "SCMP_CMP_GE": arg >= value,
        "SCMP_CMP_MASKED_EQ": (arg & value) == value_two,
    }[op]


OPS = ["SCMP_CMP_EQ", "SCMP_CMP_NE", "SCMP_CMP_LT", "SCMP_CMP_LE", "SCMP_CMP_GT", "SCMP_CMP_GE"]
INTERESTING = [
    0,
    1,
    2,
    0x7FFFFFFF,
    0x80000000,
    0xFFFFFFFE,
    0xFFFFFFFF,
    1 << 32,
    (1 << 32) + 1,
    (1 << 32) + 0xFFFFFFFF,
    0x123456789,
    0x1_0000_0000_0000,
    0x7FFFFFFFFFFFFFFF,
    0x8000000000000000,
    U64 - 1,
    U64,
]


def near(value: int) -> list[int]:
    around = [value - 1, value, value + 1, value ^ (1 << 32), value + (1 << 32), value - (1 << 32)]
    return [v for v in around if 0 <= v <= U64]


@pytest.mark.parametrize("op", OPS)
@pytest.mark.parametrize("value", INTERESTING)
def test_64_bit_comparisons(op: str, value: int) -> None:
    bpf = build(arg_rule(op, value))
    nr = X86_64["personality"]
    for arg in sorted({*INTERESTING, *near(value)}):
        expected = RET_ERRNO | 77 if reference(op, arg, value) else RET_ALLOW
        assert bpf.verdict(nr, args=[arg]) == expected, (op, hex(value), hex(arg))


def test_random_64_bit_comparisons() -> None:
    rng = random.Random(20240607)
    nr = X86_64["personality"]
    for _ in range(60):
        op = rng.choice([*OPS, "SCMP_CMP_MASKED_EQ"])
        value = rng.choice([rng.getrandbits(64), rng.getrandbits(32), rng.getrandbits(40)])
        value_two = rng.getrandbits(64) & value if rng.random() < 0.7 else rng.getrandbits(64)
        index = rng.randrange(6)
        bpf = build(arg_rule(op, value, index, value_two))
        for _ in range(40):
            arg = rng.choice(
                [rng.getrandbits(64), value, value_two, value ^ (1 << rng.randrange(64))]
            )
            args = [rng.getrandbits(64) for _ in range(6)]
            args[index] = arg
            matched = reference(op, arg, value, value_two)
            assert bpf.verdict(nr, args=args) == (RET_ERRNO | 77 if matched else RET_ALLOW)


@pytest.mark.parametrize(
    ("mask", "datum"),
    [
        (0x7E020000, 0),  # Docker's clone rule: no CLONE_NEW* flag
        (0xFF, 0x12),
        (0xFFFF_0000_0000_0000, 0x1234_0000_0000_0000),
        (0xF0F0_0000_F0F0, 0x1010_0000_2020),
        (0, 0),  # always true
        (0, 5),  # never true
        (0xF, 0x10),  # datum outside the mask: never true
        (1 << 40, 0),  # high word only
    ],
)
def test_masked_eq(mask: int, datum: int) -> None:
    bpf = build(arg_rule("SCMP_CMP_MASKED_EQ", mask, value_two=datum))
    nr = X86_64["personality"]
    for arg in [*INTERESTING, datum, datum | ~mask & U64, mask, 0x7E020000, 0x10000000]:
        expected = RET_ERRNO | 77 if (arg & mask) == datum else RET_ALLOW
        assert bpf.verdict(nr, args=[arg]) == expected, (hex(mask), hex(datum), hex(arg))


def test_masked_eq_value_two_defaults_to_zero() -> None:
    bpf = build(arg_rule("SCMP_CMP_MASKED_EQ", 0x10000000))
    nr = X86_64["personality"]
    assert bpf.verdict(nr, args=[0x10000000]) == RET_ALLOW
    assert bpf.verdict(nr, args=[0x00000100]) == RET_ERRNO | 77


def test_each_argument_index_is_read_from_its_own_slot() -> None:
    nr = X86_64["personality"]
    for index in range(6):
        bpf = build(arg_rule("SCMP_CMP_EQ", 0xABCDEF0123, index))
        for other in range(6):
            args = [0] * 6
            args[other] = 0xABCDEF0123
            expected = RET_ERRNO | 77 if other == index else RET_ALLOW
            assert bpf.verdict(nr, args=args) == expected


def test_32_bit_abis_compare_the_low_word_only() -> None:
    # libseccomp semantics: on x86 and arm an argument is 32 bits; the value is truncated.
    seccomp = arg_rule("SCMP_CMP_EQ", 0xFFFFFFFF_FFFFFFFF)
    seccomp["architectures"] = ["SCMP_ARCH_X86"]
    bpf = build(seccomp)
    assert bpf.verdict(X86["personality"], AUDIT_ARCH_I386, [0xFFFFFFFF]) == RET_ERRNO | 77
    assert bpf.verdict(X86["personality"], AUDIT_ARCH_I386, [0xFFFFFFFE]) == RET_ALLOW
    assert bpf.verdict(X86_64["personality"], args=[0xFFFFFFFF]) == RET_ALLOW
    assert bpf.verdict(X86_64["personality"], args=[U64]) == RET_ERRNO | 77

    gt = arg_rule("SCMP_CMP_GT", (1 << 32) + 5)
    bpf = build(gt, arch="arm")
    assert bpf.verdict(ARM["personality"], AUDIT_ARCH_ARM, [6]) == RET_ERRNO | 77
    assert bpf.verdict(ARM["personality"], AUDIT_ARCH_ARM, [5]) == RET_ALLOW


# --- rule semantics ------------------------------------------------------------------------


def test_several_args_are_anded() -> None:
    bpf = build(
        {
            "defaultAction": "SCMP_ACT_ALLOW",
            "syscalls": [
                {
                    "names": ["mkdirat"],
                    "action": "SCMP_ACT_ERRNO",
                    "errnoRet": 30,
                    "args": [
                        {"index": 0, "value": 100, "op": "SCMP_CMP_EQ"},
                        {"index": 2, "value": 0o700, "op": "SCMP_CMP_NE"},
                        {"index": 3, "value": 1 << 33, "op": "SCMP_CMP_LT"},
                    ],
                }
            ],
        }
    )
    nr = X86_64["mkdirat"]
    assert bpf.verdict(nr, args=[100, 0, 0o755, 0]) == RET_ERRNO | 30
    assert bpf.verdict(nr, args=[101, 0, 0o755, 0]) == RET_ALLOW
    assert bpf.verdict(nr, args=[100, 0, 0o700, 0]) == RET_ALLOW
    assert bpf.verdict(nr, args=[100, 0, 0o755, 1 << 33]) == RET_ALLOW
    assert bpf.verdict(nr, args=[100, 0, 0o755, (1 << 33) - 1]) == RET_ERRNO | 30


def test_repeated_argument_index_is_ored_like_runc() -> None:
    bpf = build(
        {
            "defaultAction": "SCMP_ACT_ALLOW",
            "syscalls": [
                {
                    "names": ["personality"],
                    "action": "SCMP_ACT_ERRNO",
                    "args": [
                        {"index": 0, "value": 3, "op": "SCMP_CMP_EQ"},
                        {"index": 0, "value": 5, "op": "SCMP_CMP_EQ"},
                    ],
                }
            ],
        }
    )
    nr = X86_64["personality"]
    assert bpf.verdict(nr, args=[3]) == RET_ERRNO | 1
    assert bpf.verdict(nr, args=[5]) == RET_ERRNO | 1
    assert bpf.verdict(nr, args=[4]) == RET_ALLOW


def test_first_matching_rule_wins_in_order_given() -> None:
    bpf = build(
        {
            "defaultAction": "SCMP_ACT_ERRNO",
            "syscalls": [
                {
                    "names": ["socket"],
                    "action": "SCMP_ACT_ERRNO",
                    "errnoRet": 97,
                    "args": [{"index": 0, "value": 40, "op": "SCMP_CMP_EQ"}],
                },
                {
                    "names": ["socket"],
                    "action": "SCMP_ACT_LOG",
                    "args": [{"index": 0, "value": 30, "op": "SCMP_CMP_GE"}],
                },
                {"names": ["socket", "read"], "action": "SCMP_ACT_ALLOW"},
                {"names": ["socket", "read"], "action": "SCMP_ACT_KILL"},  # never reached
            ],
        }
    )
    nr = X86_64["socket"]
    assert bpf.verdict(nr, args=[40]) == RET_ERRNO | 97
    assert bpf.verdict(nr, args=[41]) == RET_LOG
    assert bpf.verdict(nr, args=[30]) == RET_LOG
    assert bpf.verdict(nr, args=[2]) == RET_ALLOW  # falls to the unconditional rule
    assert bpf.verdict(X86_64["read"]) == RET_ALLOW
    assert bpf.verdict(X86_64["write"]) == RET_ERRNO | 1


def test_conditional_rules_without_fallback_use_the_default() -> None:
    bpf = build(
        {
            "defaultAction": "SCMP_ACT_ERRNO",
            "defaultErrnoRet": 38,
            "syscalls": [
                {
                    "names": ["personality"],
                    "action": "SCMP_ACT_ALLOW",
                    "args": [{"index": 0, "value": value, "op": "SCMP_CMP_EQ"}],
                }
                for value in (0, 8, 0x20000, 0x20008, 0xFFFFFFFF)
            ],
        }
    )
    nr = X86_64["personality"]
    for value in (0, 8, 0x20000, 0x20008, 0xFFFFFFFF):
        assert bpf.verdict(nr, args=[value]) == RET_ALLOW
    for value in (1, 9, 0x1_0000_0000, U64):
        assert bpf.verdict(nr, args=[value]) == RET_ERRNO | 38


def test_rules_equal_to_the_outcome_are_folded_away() -> None:
    plain = compile_seccomp(allow_list(["getpid"]), "x86_64")
    folded = compile_seccomp(
        {
            "defaultAction": "SCMP_ACT_ERRNO",
            "syscalls": [
                {
                    "names": ["getpid"],
                    "action": "SCMP_ACT_ALLOW",
                    "args": [{"index": 0, "value": 1, "op": "SCMP_CMP_EQ"}],
                },
                {"names": ["getpid"], "action": "SCMP_ACT_ALLOW"},
            ],
        },
        "x86_64",
    )
    assert folded.program == plain.program


def test_contiguous_numbers_share_one_range() -> None:
    few = compile_seccomp(allow_list(["read"]), "x86_64")
    # read..mprotect are 0..10: one range, so the same size as a single syscall.
    many = compile_seccomp(allow_list([n for n, nr in X86_64.items() if nr <= 10]), "x86_64")
    assert many.instructions == few.instructions


def test_unknown_names_are_ignored_and_reported() -> None:
    compiled = compile_seccomp(
        allow_list(["read", "no_such_syscall", "cacheflush", "socketcall"]), "x86_64"
    )
    # cacheflush is arm-only, socketcall i386-only: unknown on the filter's arches.
    assert compiled.ignored_syscalls == ("cacheflush", "no_such_syscall", "socketcall")
    bpf = Filter(compiled.program)
    assert bpf.verdict(X86_64["read"]) == RET_ALLOW

    with_x86 = compile_seccomp(
        allow_list(["socketcall", "no_such_syscall"], architectures=["SCMP_ARCH_X86"]), "x86_64"
    )
    assert with_x86.ignored_syscalls == ("no_such_syscall",)
    bpf = Filter(with_x86.program)
    assert bpf.verdict(X86["socketcall"], AUDIT_ARCH_I386) == RET_ALLOW


def test_only_unknown_names_gives_the_default() -> None:
    bpf = build(allow_list(["no_such_syscall"]))
    assert bpf.verdict(X86_64["read"]) == RET_ERRNO | 1


# --- long programs -------------------------------------------------------------------------


def test_jumps_beyond_255_instructions() -> None:
    # Every syscall gets an argument condition: the search tree's leaves jump far into the
    # rule chains, and the chains far to the shared returns.
    numbers = sorted(X86_64.items(), key=lambda item: item[1])
    rules = [
        {
            "names": [name],
            "action": "SCMP_ACT_ERRNO",
            "errnoRet": nr % 4000 + 1,
            "args": [
                {"index": nr % 6, "value": nr << 32 | nr, "op": "SCMP_CMP_EQ"},
                {"index": (nr + 1) % 6, "value": nr, "op": "SCMP_CMP_GE"},
            ][: 1 + nr % 2],
        }
        for name, nr in numbers
    ]
    compiled = compile_seccomp({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": rules}, "x86_64")
    bpf = Filter(compiled.program)
    assert len(bpf) > 1500
    assert any(insn.code == 0x05 for insn in bpf.insns), "expected BPF_JA trampolines"
    for _name, nr in numbers:
        args = [0] * 6
        args[nr % 6] = nr << 32 | nr
        args[(nr + 1) % 6] = max(args[(nr + 1) % 6], nr)
        assert bpf.verdict(nr, args=args) == RET_ERRNO | (nr % 4000 + 1)
        args[nr % 6] += 1
        assert bpf.verdict(nr, args=args) == RET_ALLOW
    assert bpf.verdict(5000) == RET_ALLOW


def test_too_many_instructions_is_refused() -> None:
    rules = [
        {
            "names": [name],
            "action": "SCMP_ACT_ERRNO",
            "args": [{"index": i, "value": (1 << 63) + i, "op": "SCMP_CMP_LE"} for i in range(6)],
        }
        for name in X86_64
    ]
    with pytest.raises(InvalidArgument, match=r"linux\.seccomp: .*more than the kernel's 4096"):
        compile_seccomp({"defaultAction": "SCMP_ACT_ALLOW", "syscalls": rules}, "x86_64")


# --- public API ----------------------------------------------------------------------------


def test_notify_is_unavailable() -> None:
    seccomp = {
        "defaultAction": "SCMP_ACT_ALLOW",
        "listenerPath": "/run/agent.sock",
        "syscalls": [{"names": ["mount"], "action": "SCMP_ACT_NOTIFY"}],
    }
    with pytest.raises(Unavailable, match=r"linux\.seccomp\.syscalls\[0\]\.action"):
        compile_seccomp(seccomp, "x86_64")


def test_compiled_filter_is_frozen() -> None:
    compiled = compile_seccomp({"defaultAction": "SCMP_ACT_ALLOW"}, "x86_64")
    with pytest.raises(AttributeError):
        compiled.flags = 3  # type: ignore[misc]


def test_load_hands_program_and_flags_to_the_kernel_layer(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import capsa.kernel.process

    calls: list[tuple[bytes, int]] = []
    monkeypatch.setattr(
        capsa.kernel.process,
        "load_seccomp_filter",
        lambda program, flags=0: calls.append((program, flags)),
    )
    compiled = CompiledFilter(b"\x06\x00\x00\x00\x00\x00\xff\x7f", 1, 1)
    load(compiled)
    assert calls == [(compiled.program, 1)]
