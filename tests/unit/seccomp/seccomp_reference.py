"""What a seccomp profile should decide, computed directly from the OCI JSON.

An independent statement of the semantics the compiler implements (first matching rule in
the order given; runc's OR for repeated argument indexes; 32-bit ABIs compare the low
word), to check compiled programs against.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

ACTION_VALUES = {
    "SCMP_ACT_KILL": 0x00000000,
    "SCMP_ACT_KILL_THREAD": 0x00000000,
    "SCMP_ACT_KILL_PROCESS": 0x80000000,
    "SCMP_ACT_TRAP": 0x00030000,
    "SCMP_ACT_ERRNO": 0x00050000,
    "SCMP_ACT_TRACE": 0x7FF00000,
    "SCMP_ACT_LOG": 0x7FFC0000,
    "SCMP_ACT_ALLOW": 0x7FFF0000,
}


def action_value(action: str, errno_ret: int | None) -> int:
    value = ACTION_VALUES[action]
    if action in ("SCMP_ACT_ERRNO", "SCMP_ACT_TRACE"):
        value |= 1 if errno_ret is None else errno_ret
    return value


def holds(arg: Mapping[str, Any], value: int, bits: int) -> bool:
    mask = (1 << bits) - 1
    actual = value & mask
    expected: int = arg["value"] & mask
    datum: int = arg.get("valueTwo", 0) & mask
    return {
        "SCMP_CMP_EQ": lambda: actual == expected,
        "SCMP_CMP_NE": lambda: actual != expected,
        "SCMP_CMP_LT": lambda: actual < expected,
        "SCMP_CMP_LE": lambda: actual <= expected,
        "SCMP_CMP_GT": lambda: actual > expected,
        "SCMP_CMP_GE": lambda: actual >= expected,
        "SCMP_CMP_MASKED_EQ": lambda: (actual & expected) == datum,
    }[arg["op"]]()


def rule_matches(rule: Mapping[str, Any], args: Sequence[int], bits: int) -> bool:
    conditions = rule.get("args") or []
    indexes = [arg["index"] for arg in conditions]
    checks = [holds(arg, args[arg["index"]], bits) for arg in conditions]
    if len(set(indexes)) != len(indexes):
        return any(checks)
    return all(checks)


def expected_verdict(
    seccomp: Mapping[str, Any],
    table: Mapping[str, int],
    nr: int,
    args: Sequence[int] = (0,) * 6,
    bits: int = 64,
) -> int:
    """The verdict for syscall `nr` of the ABI numbered by `table` (already arch-checked)."""
    for rule in seccomp.get("syscalls") or []:
        if any(table.get(name) == nr for name in rule["names"]) and rule_matches(rule, args, bits):
            return action_value(rule["action"], rule.get("errnoRet"))
    return action_value(seccomp["defaultAction"], seccomp.get("defaultErrnoRet"))
