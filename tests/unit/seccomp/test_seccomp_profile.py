"""Validation of `linux.seccomp`: every malformed field is refused by name."""

from __future__ import annotations

import copy
import re
from typing import Any

import pytest

from capsa.errors import InvalidArgument, Unavailable
from capsa.runtime.seccomp import compile_seccomp
from capsa.runtime.seccomp.profile import Condition, parse_profile

GOOD: dict[str, Any] = {
    "defaultAction": "SCMP_ACT_ERRNO",
    "defaultErrnoRet": 1,
    "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"],
    "flags": ["SECCOMP_FILTER_FLAG_SPEC_ALLOW"],
    "syscalls": [
        {"names": ["read", "write"], "action": "SCMP_ACT_ALLOW"},
        {"names": ["getcwd"], "action": "SCMP_ACT_ERRNO", "errnoRet": 5},
        {"names": ["mkdir"], "action": "SCMP_ACT_TRACE"},
        {
            "names": ["personality"],
            "action": "SCMP_ACT_ALLOW",
            "args": [{"index": 0, "value": 8, "op": "SCMP_CMP_EQ"}],
        },
    ],
}


def with_change(field: str, value: Any) -> dict[str, Any]:
    """GOOD with `field` (like `syscalls[3].args[0].op`) set to `value`, or deleted."""
    path: list[Any] = [int(part) if part.isdigit() else part for part in re.findall(r"\w+", field)]
    seccomp = copy.deepcopy(GOOD)
    target: Any = seccomp
    for key in path[:-1]:
        target = target[key]
    if value is DELETE:
        del target[path[-1]]
    else:
        target[path[-1]] = value
    return seccomp


DELETE = object()

# (field, bad value, reason in the error)
CASES: list[tuple[str, Any, str]] = [
    ("defaultAction", DELETE, "is required"),
    ("defaultAction", "SCMP_ACT_FOO", "unknown action 'SCMP_ACT_FOO'"),
    ("defaultAction", 3, "unknown action 3"),
    ("defaultAction", "scmp_act_allow", "unknown action"),
    ("defaultErrnoRet", -1, "must be between 0 and 65535, not -1"),
    ("defaultErrnoRet", 65536, "must be between 0 and 65535"),
    ("defaultErrnoRet", "1", "must be an unsigned integer, not string"),
    ("defaultErrnoRet", True, "not boolean"),
    ("defaultErrnoRet", 1.0, "not number"),
    ("architectures", "SCMP_ARCH_X86_64", "must be an array, not string"),
    ("architectures[1]", "SCMP_ARCH_FOO", "unknown architecture 'SCMP_ARCH_FOO'"),
    ("architectures[0]", None, "unknown architecture None"),
    ("architectures[2]", "SCMP_ARCH_PPC64LE", "SCMP_ARCH_PPC64LE is not supported"),
    ("architectures[2]", "SCMP_ARCH_S390X", "not supported by capsa-runtime"),
    ("flags", {"a": 1}, "must be an array, not object"),
    (
        "flags[0]",
        "SECCOMP_FILTER_FLAG_NEW_LISTENER",
        "unknown flag 'SECCOMP_FILTER_FLAG_NEW_LISTENER'",
    ),
    ("flags[0]", 4, "unknown flag 4"),
    ("listenerPath", 5, "must be a string, not int"),
    ("listenerMetadata", "x", "must not be set without listenerPath"),
    ("syscalls", {}, "must be an array, not object"),
    ("syscalls[1]", ["read"], "must be an object, not array"),
    ("syscalls[1].names", DELETE, "is required"),
    ("syscalls[1].names", [], "must name at least one syscall"),
    ("syscalls[1].names", "getcwd", "must be an array, not string"),
    ("syscalls[0].names[1]", 7, "must be a non-empty string"),
    ("syscalls[0].names[0]", "", "must be a non-empty string"),
    ("syscalls[2].action", DELETE, "is required"),
    ("syscalls[3].action", "SCMP_ACT_FOO", "unknown action 'SCMP_ACT_FOO'"),
    (
        "syscalls[0].errnoRet",
        1,
        "only valid with SCMP_ACT_ERRNO or SCMP_ACT_TRACE, not SCMP_ACT_ALLOW",
    ),
    ("syscalls[1].errnoRet", "EPERM", "must be an unsigned integer"),
    ("syscalls[1].errnoRet", 1 << 16, "between 0 and 65535"),
    ("syscalls[3].args", {"index": 0}, "must be an array, not object"),
    ("syscalls[3].args[0]", 0, "must be an object, not int"),
    ("syscalls[3].args[0].index", DELETE, "is required"),
    ("syscalls[3].args[0].index", 6, "must be 0 to 5, not 6"),
    ("syscalls[3].args[0].index", -1, "must be between 0"),
    ("syscalls[3].args[0].index", "0", "must be an unsigned integer"),
    ("syscalls[3].args[0].value", DELETE, "is required"),
    ("syscalls[3].args[0].value", 1.5, "must be an unsigned integer, not number 1.5"),
    ("syscalls[3].args[0].value", -1, "must be between 0 and 18446744073709551615"),
    ("syscalls[3].args[0].value", 1 << 64, "must be between 0"),
    ("syscalls[3].args[0].value", None, "not null"),
    ("syscalls[3].args[0].valueTwo", "x", "must be an unsigned integer"),
    ("syscalls[3].args[0].op", DELETE, "is required"),
    ("syscalls[3].args[0].op", "SCMP_CMP_FOO", "unknown operator 'SCMP_CMP_FOO'"),
    ("syscalls[3].args[0].op", ["SCMP_CMP_EQ"], "unknown operator"),
]


@pytest.mark.parametrize(("field", "value", "reason"), CASES)
def test_malformed_field_is_named(field: str, value: Any, reason: str) -> None:
    with pytest.raises(InvalidArgument) as caught:
        compile_seccomp(with_change(field, value), "x86_64")
    message = str(caught.value)
    assert message.startswith(f"invalid linux.seccomp.{field}: "), message
    assert reason in message


def test_good_profile_compiles() -> None:
    compiled = compile_seccomp(GOOD, "x86_64")
    assert compiled.flags == 4
    assert compiled.instructions > 5


@pytest.mark.parametrize("value", [[], "x", 0, None])
def test_top_level_must_be_an_object(value: Any) -> None:
    with pytest.raises(
        InvalidArgument, match=re.escape("invalid linux.seccomp: must be an object")
    ):
        compile_seccomp(value, "x86_64")


def test_errno_ret_with_non_errno_default_action() -> None:
    with pytest.raises(InvalidArgument, match=r"linux\.seccomp\.defaultErrnoRet: is only valid"):
        compile_seccomp({"defaultAction": "SCMP_ACT_ALLOW", "defaultErrnoRet": 1}, "x86_64")


def test_unknown_keys_are_ignored() -> None:
    seccomp = copy.deepcopy(GOOD)
    seccomp["archMap"] = [{"architecture": "SCMP_ARCH_X86_64"}]
    seccomp["syscalls"][0].update(comment="hello", includes={"caps": ["CAP_SYS_ADMIN"]})
    seccomp["syscalls"][3]["args"][0]["note"] = 1
    assert compile_seccomp(seccomp, "x86_64").program == compile_seccomp(GOOD, "x86_64").program


def test_null_optional_fields_are_absent() -> None:
    seccomp: dict[str, Any] = {
        "defaultAction": "SCMP_ACT_ALLOW",
        "architectures": None,
        "flags": None,
        "syscalls": [{"names": ["read"], "action": "SCMP_ACT_ERRNO", "args": None}],
    }
    compile_seccomp(seccomp, "x86_64")


def test_notify_default_action_is_unavailable() -> None:
    with pytest.raises(Unavailable) as caught:
        compile_seccomp({"defaultAction": "SCMP_ACT_NOTIFY"}, "x86_64")
    assert "linux.seccomp.defaultAction: SCMP_ACT_NOTIFY is not supported" in str(caught.value)
    assert "--runtime runc" in str(caught.value)


def test_malformed_input_is_reported_before_notify() -> None:
    seccomp = {
        "defaultAction": "SCMP_ACT_ALLOW",
        "syscalls": [
            {"names": ["mount"], "action": "SCMP_ACT_NOTIFY"},
            {"names": ["umount2"], "action": "SCMP_ACT_FOO"},
        ],
    }
    with pytest.raises(InvalidArgument, match=r"syscalls\[1\]\.action"):
        compile_seccomp(seccomp, "x86_64")


def test_parsed_conditions() -> None:
    profile = parse_profile(
        {
            "defaultAction": "SCMP_ACT_KILL",
            "syscalls": [
                {
                    "names": ["clone"],
                    "action": "SCMP_ACT_ALLOW",
                    "args": [
                        {"index": 0, "value": 0x7E020000, "op": "SCMP_CMP_MASKED_EQ"},
                        {"index": 1, "value": 3, "valueTwo": 4, "op": "SCMP_CMP_NE"},
                    ],
                }
            ],
        }
    )
    assert profile.default_action == 0
    (rule,) = profile.rules
    assert rule.names == ("clone",)
    assert rule.action == 0x7FFF0000
    assert rule.conditions == (
        Condition(0, "SCMP_CMP_MASKED_EQ", 0x7E020000, 0),
        Condition(1, "SCMP_CMP_NE", 3, 4),
    )


def test_repeated_index_splits_into_single_condition_rules() -> None:
    profile = parse_profile(
        {
            "defaultAction": "SCMP_ACT_ALLOW",
            "syscalls": [
                {
                    "names": ["socket"],
                    "action": "SCMP_ACT_ERRNO",
                    "args": [
                        {"index": 0, "value": 1, "op": "SCMP_CMP_EQ"},
                        {"index": 1, "value": 2, "op": "SCMP_CMP_EQ"},
                        {"index": 0, "value": 3, "op": "SCMP_CMP_EQ"},
                    ],
                }
            ],
        }
    )
    assert [len(rule.conditions) for rule in profile.rules] == [1, 1, 1]
    assert [rule.conditions[0].value for rule in profile.rules] == [1, 2, 3]
