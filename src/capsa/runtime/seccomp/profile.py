"""Parse and validate the runtime-spec `linux.seccomp` object into typed rules.

Everything malformed is refused with an error naming the field (`linux.seccomp.syscalls[3]
.args[0].op`) before anything is compiled. Keys the spec does not define (Docker's
`comment`, `includes`, `excludes`...) are ignored, as runc ignores them.

Semantics kept from runc, so that a bundle behaves the same under both runtimes:
- `SCMP_ACT_KILL` is `SCMP_ACT_KILL_THREAD` (libseccomp's meaning).
- `errnoRet` (and `defaultErrnoRet`) is only valid with SCMP_ACT_ERRNO and SCMP_ACT_TRACE;
  when absent those actions return EPERM.
- The conditions of one rule are ANDed, except when one argument index appears more than
  once: runc then adds each condition as a rule of its own, so they are ORed. So do we.
"""

from __future__ import annotations

from _collections_abc import Mapping  # what collections.abc exports, already loaded

from capsa._record import Record
from capsa.errors import Unavailable, field_error
from capsa.runtime.seccomp import arches
from capsa.runtime.seccomp.bpf import (
    SECCOMP_RET_ALLOW,
    SECCOMP_RET_DATA,
    SECCOMP_RET_ERRNO,
    SECCOMP_RET_KILL_PROCESS,
    SECCOMP_RET_KILL_THREAD,
    SECCOMP_RET_LOG,
    SECCOMP_RET_TRACE,
    SECCOMP_RET_TRAP,
    SECCOMP_RET_USER_NOTIF,
)

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Sequence
    from typing import Any

EPERM = 1
MAX_ARGS = 6
UINT64_MAX = (1 << 64) - 1

ACTIONS: dict[str, int] = {
    "SCMP_ACT_KILL": SECCOMP_RET_KILL_THREAD,
    "SCMP_ACT_KILL_THREAD": SECCOMP_RET_KILL_THREAD,
    "SCMP_ACT_KILL_PROCESS": SECCOMP_RET_KILL_PROCESS,
    "SCMP_ACT_TRAP": SECCOMP_RET_TRAP,
    "SCMP_ACT_ERRNO": SECCOMP_RET_ERRNO,
    "SCMP_ACT_TRACE": SECCOMP_RET_TRACE,
    "SCMP_ACT_ALLOW": SECCOMP_RET_ALLOW,
    "SCMP_ACT_LOG": SECCOMP_RET_LOG,
    "SCMP_ACT_NOTIFY": SECCOMP_RET_USER_NOTIF,
}
_WITH_DATA = frozenset({"SCMP_ACT_ERRNO", "SCMP_ACT_TRACE"})

OPERATORS = frozenset(
    {
        "SCMP_CMP_NE",
        "SCMP_CMP_LT",
        "SCMP_CMP_LE",
        "SCMP_CMP_EQ",
        "SCMP_CMP_GE",
        "SCMP_CMP_GT",
        "SCMP_CMP_MASKED_EQ",
    }
)

# SECCOMP_FILTER_FLAG_* bits passed to seccomp(2). WAIT_KILLABLE_RECV only means something
# with a user-notification listener (the kernel refuses it without NEW_LISTENER, and
# libseccomp only sets it then); capsa has no listener, so it is accepted and has no effect.
FLAGS: dict[str, int] = {
    "SECCOMP_FILTER_FLAG_TSYNC": 1,
    "SECCOMP_FILTER_FLAG_LOG": 2,
    "SECCOMP_FILTER_FLAG_SPEC_ALLOW": 4,
    "SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV": 0,
}


class Condition(Record):
    """`args[arg] op value`; for SCMP_CMP_MASKED_EQ, `(args[arg] & value) == value_two`."""

    __slots__ = ("arg", "op", "value", "value_two")

    def __init__(self, arg: int, op: str, value: int, value_two: int) -> None:
        self.arg = arg  # which syscall argument, 0-5
        self.op = op
        self.value = value
        self.value_two = value_two


class Rule(Record):
    """If every condition holds for a call to one of `names`, return `action`."""

    __slots__ = ("action", "conditions", "names")

    def __init__(
        self, names: tuple[str, ...], action: int, conditions: tuple[Condition, ...]
    ) -> None:
        self.names = names
        self.action = action  # a SECCOMP_RET_* value, data included
        self.conditions = conditions


class Profile(Record):
    __slots__ = ("architectures", "default_action", "flags", "rules")

    def __init__(
        self,
        default_action: int,
        architectures: tuple[arches.Arch, ...],
        flags: int,
        rules: tuple[Rule, ...],
    ) -> None:
        self.default_action = default_action
        self.architectures = architectures
        self.flags = flags
        self.rules = rules  # in the order given: the first match wins


def parse_profile(seccomp: Any, field: str = "linux.seccomp") -> Profile:
    """Validate `linux.seccomp` and return its typed form, or raise naming the bad field."""
    if not isinstance(seccomp, Mapping):
        raise field_error(field, f"must be an object, not {_kind(seccomp)}")
    notify: list[str] = []
    if "defaultAction" not in seccomp:
        raise field_error(f"{field}.defaultAction", "is required")
    default_action = _action(
        seccomp["defaultAction"],
        seccomp.get("defaultErrnoRet"),
        f"{field}.defaultAction",
        f"{field}.defaultErrnoRet",
        notify,
    )
    architectures = tuple(
        _architecture(name, f"{field}.architectures[{i}]")
        for i, name in enumerate(_array(seccomp.get("architectures"), f"{field}.architectures"))
    )
    flags = 0
    for i, name in enumerate(_array(seccomp.get("flags"), f"{field}.flags")):
        flags |= _choice(name, FLAGS, f"{field}.flags[{i}]", "flag")
    for key in ("listenerPath", "listenerMetadata"):
        if key in seccomp and not isinstance(seccomp[key], str):
            raise field_error(f"{field}.{key}", f"must be a string, not {_kind(seccomp[key])}")
    if "listenerMetadata" in seccomp and "listenerPath" not in seccomp:
        raise field_error(f"{field}.listenerMetadata", "must not be set without listenerPath")
    rules: list[Rule] = []
    for i, entry in enumerate(_array(seccomp.get("syscalls"), f"{field}.syscalls")):
        rules.extend(_rules(entry, f"{field}.syscalls[{i}]", notify))
    if notify:
        raise Unavailable(
            f"{notify[0]}: SCMP_ACT_NOTIFY is not supported by capsa-runtime",
            hint="it has no seccomp user-notification listener yet; run this container with "
            "--runtime runc",
        )
    return Profile(default_action, architectures, flags, tuple(rules))


def _rules(entry: Any, field: str, notify: list[str]) -> list[Rule]:
    if not isinstance(entry, Mapping):
        raise field_error(field, f"must be an object, not {_kind(entry)}")
    if "names" not in entry:
        raise field_error(f"{field}.names", "is required")
    names = _array(entry["names"], f"{field}.names")
    if not names:
        raise field_error(f"{field}.names", "must name at least one syscall")
    for j, name in enumerate(names):
        if not isinstance(name, str) or not name:
            raise field_error(f"{field}.names[{j}]", "must be a non-empty string")
    if "action" not in entry:
        raise field_error(f"{field}.action", "is required")
    action = _action(
        entry["action"], entry.get("errnoRet"), f"{field}.action", f"{field}.errnoRet", notify
    )
    conditions = [
        _condition(arg, f"{field}.args[{j}]")
        for j, arg in enumerate(_array(entry.get("args"), f"{field}.args"))
    ]
    indexes = [condition.arg for condition in conditions]
    if len(set(indexes)) == len(indexes):
        return [Rule(tuple(names), action, tuple(conditions))]
    # runc's fallback for repeated argument indexes: one rule per condition (ORed).
    return [Rule(tuple(names), action, (condition,)) for condition in conditions]


def _condition(arg: Any, field: str) -> Condition:
    if not isinstance(arg, Mapping):
        raise field_error(field, f"must be an object, not {_kind(arg)}")
    for key in ("index", "value", "op"):
        if key not in arg:
            raise field_error(f"{field}.{key}", "is required")
    index = _uint(arg["index"], f"{field}.index", UINT64_MAX)
    if index >= MAX_ARGS:
        raise field_error(f"{field}.index", f"must be 0 to {MAX_ARGS - 1}, not {index}")
    op = arg["op"]
    if not isinstance(op, str) or op not in OPERATORS:
        raise field_error(
            f"{field}.op",
            f"unknown operator {op!r}",
            hint=f"use one of {', '.join(sorted(OPERATORS))}",
        )
    value = _uint(arg["value"], f"{field}.value", UINT64_MAX)
    value_two = _uint(arg.get("valueTwo", 0), f"{field}.valueTwo", UINT64_MAX)
    return Condition(index, op, value, value_two)


def _action(name: Any, errno_ret: Any, field: str, errno_field: str, notify: list[str]) -> int:
    action = _choice(name, ACTIONS, field, "action")
    if name == "SCMP_ACT_NOTIFY":
        notify.append(field)
    if errno_ret is None:
        return action | EPERM if name in _WITH_DATA else action
    if name not in _WITH_DATA:
        raise field_error(
            errno_field, f"is only valid with SCMP_ACT_ERRNO or SCMP_ACT_TRACE, not {name}"
        )
    return action | _uint(errno_ret, errno_field, SECCOMP_RET_DATA)


def _architecture(name: Any, field: str) -> arches.Arch:
    if not isinstance(name, str) or name not in arches.KNOWN:
        raise field_error(field, f"unknown architecture {name!r}")
    try:
        return arches.SUPPORTED[name]
    except KeyError:
        raise field_error(
            field,
            f"architecture {name} is not supported by capsa-runtime",
            hint=f"supported: {', '.join(arches.SUPPORTED)}",
        ) from None


def _choice(name: Any, choices: Mapping[str, int], field: str, what: str) -> int:
    if not isinstance(name, str) or name not in choices:
        raise field_error(
            field, f"unknown {what} {name!r}", hint=f"use one of {', '.join(choices)}"
        )
    return choices[name]


def _array(value: Any, field: str) -> Sequence[Any]:
    if value is None:
        return ()
    if not isinstance(value, list | tuple):
        raise field_error(field, f"must be an array, not {_kind(value)}")
    return value


def _uint(value: Any, field: str, maximum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise field_error(field, f"must be an unsigned integer, not {_kind(value)} {value!r}")
    if not 0 <= value <= maximum:
        raise field_error(field, f"must be between 0 and {maximum}, not {value}")
    return value


def _kind(value: Any) -> str:
    names = {dict: "object", list: "array", str: "string", bool: "boolean", float: "number"}
    if value is None:
        return "null"
    return names.get(type(value), type(value).__name__)
