"""JSON without the `json` package: its import pulls in `re`, which costs more than a
whole container start is allowed to. The C accelerator `_json` does the real work."""

from __future__ import annotations

import _json

_WHITESPACE = " \t\n\r"


class _Context:
    """The attributes _json.make_scanner reads from json.JSONDecoder."""

    strict = True
    object_hook = None
    object_pairs_hook = None
    memo: dict[str, str] = {}

    def __init__(self) -> None:
        self.parse_float = float
        self.parse_int = int
        self.parse_constant = _constant


def _constant(name: str) -> float:
    return {"-Infinity": float("-inf"), "Infinity": float("inf"), "NaN": float("nan")}[name]


_scanner = _json.make_scanner(_Context())  # type: ignore[arg-type]


class JSONError(ValueError):
    def __init__(self, message: str, position: int, text: str) -> None:
        line = text.count("\n", 0, position) + 1
        column = position - text.rfind("\n", 0, position)
        super().__init__(f"{message} at line {line} column {column}")
        self.msg = message
        self.lineno = line
        self.colno = column


def loads(data: str | bytes) -> object:
    text = data.decode() if isinstance(data, bytes) else data
    index = 0
    while index < len(text) and text[index] in _WHITESPACE:
        index += 1
    try:
        value, end = _scanner(text, index)
    except StopIteration as exc:
        raise JSONError("expecting a value", exc.value, text) from None
    except ValueError as exc:
        position = getattr(exc, "pos", index)
        raise JSONError(str(exc).split(":")[0], position, text) from None
    while end < len(text) and text[end] in _WHITESPACE:
        end += 1
    if end != len(text):
        raise JSONError("extra data", end, text)
    return value


def dumps(value: object, indent: int | None = None) -> str:
    parts: list[str] = []
    _encode(value, parts, indent, 0)
    return "".join(parts)


def _encode(value: object, out: list[str], indent: int | None, depth: int) -> None:
    if value is None:
        out.append("null")
    elif value is True:
        out.append("true")
    elif value is False:
        out.append("false")
    elif isinstance(value, str):
        out.append(_json.encode_basestring_ascii(value))
    elif isinstance(value, int):
        out.append(int.__repr__(value))
    elif isinstance(value, float):
        out.append(float.__repr__(value))
    elif isinstance(value, dict):
        if not value:
            out.append("{}")
            return
        out.append("{")
        first = True
        for key, item in value.items():
            if not first:
                out.append(",")
            first = False
            if indent is not None:
                out.append("\n" + " " * (indent * (depth + 1)))
            out.append(_json.encode_basestring_ascii(str(key)))
            out.append(": " if indent is not None else ":")
            _encode(item, out, indent, depth + 1)
        if indent is not None:
            out.append("\n" + " " * (indent * depth))
        out.append("}")
    elif isinstance(value, (list, tuple)):
        if not value:
            out.append("[]")
            return
        out.append("[")
        for position, item in enumerate(value):
            if position:
                out.append(",")
            if indent is not None:
                out.append("\n" + " " * (indent * (depth + 1)))
            _encode(item, out, indent, depth + 1)
        if indent is not None:
            out.append("\n" + " " * (indent * depth))
        out.append("]")
    else:
        raise TypeError(f"cannot encode {type(value).__name__} as JSON")
