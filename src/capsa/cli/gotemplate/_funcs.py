"""The functions a template can call: Go's builtins (and, or, not, len, index, slice,
print, printf, println, eq, ne, lt, le, gt, ge, html, urlquery) and Docker's (json, split,
join, title, lower, upper, pad, truncate), with Go's argument checks."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from urllib.parse import quote_plus

from capsa.cli.gotemplate._values import (
    Dynamic,
    go_str,
    sprint,
    sprintf,
    sprintln,
    to_json,
    truth,
    type_name,
)
from capsa.cli.gotemplate.errors import TemplateError

Func = Callable[[list[object]], object]


def _count(name: str, args: list[object], want: int) -> None:
    if len(args) != want:
        raise TemplateError(f"wrong number of args for {name}: want {want} got {len(args)}")


def _at_least(name: str, args: list[object], want: int) -> None:
    if len(args) < want:
        raise TemplateError(
            f"wrong number of args for {name}: want at least {want} got {len(args)}"
        )


def _string(name: str, value: object) -> str:
    if not isinstance(value, str):
        raise TemplateError(
            f"error calling {name}: wrong type for value; expected string; got {type_name(value)}"
        )
    return value


def _integer(name: str, value: object) -> int:
    if not isinstance(value, int) or isinstance(value, bool):
        raise TemplateError(
            f"error calling {name}: wrong type for value; expected int; got {type_name(value)}"
        )
    return value


def _and(args: list[object]) -> object:
    _at_least("and", args, 1)
    for arg in args:
        if not truth(arg):
            return arg
    return args[-1]


def _or(args: list[object]) -> object:
    _at_least("or", args, 1)
    for arg in args:
        if truth(arg):
            return arg
    return args[-1]


def _not(args: list[object]) -> object:
    _count("not", args, 1)
    return not truth(args[0])


def _len(args: list[object]) -> object:
    _count("len", args, 1)
    value = args[0]
    if isinstance(value, str):
        return len(value.encode())  # Go counts bytes
    if isinstance(value, Sequence | Mapping):
        return len(value)
    raise TemplateError(f"error calling len: len of type {type_name(value)}")


def _index(args: list[object]) -> object:
    _at_least("index", args, 1)
    value = args[0]
    for key in args[1:]:
        if value is None:
            raise TemplateError("error calling index: index of untyped nil")
        if isinstance(value, Dynamic):
            value = value.template_field(go_str(key))
        elif isinstance(value, Mapping):
            value = value.get(key)
        elif isinstance(value, str | Sequence):
            position = _integer("index", key)
            items = value.encode() if isinstance(value, str) else value
            if not 0 <= position < len(items):
                raise TemplateError(f"error calling index: index out of range: {position}")
            value = items[position]
        else:
            raise TemplateError(f"error calling index: can't index item of type {type_name(value)}")
    return value


def _slice(args: list[object]) -> object:
    _at_least("slice", args, 1)
    value = args[0]
    if not isinstance(value, str | Sequence) or isinstance(value, Mapping):
        raise TemplateError(f"error calling slice: can't slice item of type {type_name(value)}")
    bounds = [_integer("slice", arg) for arg in args[1:]]
    if len(bounds) > 2:
        raise TemplateError("error calling slice: too many slice indexes")
    start = bounds[0] if bounds else 0
    end = bounds[1] if len(bounds) > 1 else len(value)
    if not 0 <= start <= end <= len(value):
        raise TemplateError(f"error calling slice: slice index out of range: {start}:{end}")
    return value[start:end]


def _comparable(value: object) -> tuple[str, object]:
    if value is None:
        return "nil", None
    if isinstance(value, bool):
        return "bool", value
    if isinstance(value, int | float):
        return "number", value
    if isinstance(value, str):
        return "string", value
    raise TemplateError(f"error calling eq: non-comparable type {type_name(value)}")


def _eq(args: list[object]) -> object:
    _at_least("eq", args, 2)
    kind, first = _comparable(args[0])
    for arg in args[1:]:
        other_kind, other = _comparable(arg)
        if kind != other_kind and "nil" not in (kind, other_kind):
            raise TemplateError(
                f"error calling eq: incompatible types for comparison: "
                f"{type_name(args[0])} and {type_name(arg)}"
            )
        if first == other:
            return True
    return False


def _ne(args: list[object]) -> object:
    _count("ne", args, 2)
    return not _eq(args)


def _ordered(name: str, args: list[object]) -> tuple[object, object]:
    _count(name, args, 2)
    left, right = args
    numbers = all(isinstance(v, int | float) and not isinstance(v, bool) for v in args)
    strings = all(isinstance(v, str) for v in args)
    if not (numbers or strings):
        raise TemplateError(
            f"error calling {name}: incompatible types for comparison: "
            f"{type_name(left)} and {type_name(right)}"
        )
    return left, right


def _compare(name: str, test: Callable[[int], bool]) -> Func:
    def compare(args: list[object]) -> object:
        left, right = _ordered(name, args)
        return test((left > right) - (left < right))  # type: ignore[operator]

    return compare


def _html(args: list[object]) -> object:
    text = sprint(args)
    for raw, escaped in (
        ("&", "&amp;"),
        ("<", "&lt;"),
        (">", "&gt;"),
        ('"', "&#34;"),
        ("'", "&#39;"),
        ("\0", "\ufffd"),
    ):
        text = text.replace(raw, escaped)
    return text


def _printf(args: list[object]) -> object:
    _at_least("printf", args, 1)
    return sprintf(_string("printf", args[0]), args[1:])


def _json(args: list[object]) -> object:
    _count("json", args, 1)
    return to_json(args[0])


def _split(args: list[object]) -> object:
    _count("split", args, 2)
    text, separator = _string("split", args[0]), _string("split", args[1])
    if not separator:
        return list(text)
    return text.split(separator)


def _join(args: list[object]) -> object:
    _count("join", args, 2)
    items, separator = args[0], _string("join", args[1])
    if items is None:
        return ""
    if not isinstance(items, Sequence) or isinstance(items, str | Mapping):
        raise TemplateError(
            f"error calling join: wrong type for value; expected []string; got {type_name(items)}"
        )
    return separator.join(go_str(item, top=False) for item in items)


def _title(args: list[object]) -> object:
    """strings.Title: the first letter of every word in upper case."""
    _count("title", args, 1)
    out: list[str] = []
    previous = " "
    for char in _string("title", args[0]):
        out.append(char.upper() if not (previous.isalnum() or previous == "_") else char)
        previous = char
    return "".join(out)


def _pad(args: list[object]) -> object:
    _count("pad", args, 3)
    text = _string("pad", args[0])
    return " " * _integer("pad", args[1]) + text + " " * _integer("pad", args[2])


def _truncate(args: list[object]) -> object:
    _count("truncate", args, 2)
    text, length = _string("truncate", args[0]), _integer("truncate", args[1])
    return text if len(text) < length else text[: max(length, 0)]


def _one_string(name: str, change: Callable[[str], str]) -> Func:
    def call(args: list[object]) -> object:
        _count(name, args, 1)
        return change(_string(name, args[0]))

    return call


FUNCTIONS: dict[str, Func] = {
    "and": _and,
    "or": _or,
    "not": _not,
    "len": _len,
    "index": _index,
    "slice": _slice,
    "print": sprint,
    "printf": _printf,
    "println": sprintln,
    "eq": _eq,
    "ne": _ne,
    "lt": _compare("lt", lambda c: c < 0),
    "le": _compare("le", lambda c: c <= 0),
    "gt": _compare("gt", lambda c: c > 0),
    "ge": _compare("ge", lambda c: c >= 0),
    "html": _html,
    "urlquery": lambda args: quote_plus(sprint(args)),
    "json": _json,
    "split": _split,
    "join": _join,
    "title": _title,
    "lower": _one_string("lower", str.lower),
    "upper": _one_string("upper", str.upper),
    "pad": _pad,
    "truncate": _truncate,
}
