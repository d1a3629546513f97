"""Go's view of template data: how fmt prints a value (`%v`), what is true, type names
for messages, and fmt.Sprintf's verbs. Data is plain Python: str, int, float, bool,
None, lists, dicts (Go maps), Struct (a Go struct: an unknown field is an error) and
Dynamic (fields computed on demand, such as a table's header row)."""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import Any

from capsa.cli.gotemplate.errors import TemplateError


class Struct(dict[str, Any]):
    """A dict a template sees as a Go struct: `.Unknown` is an error, not `<no value>`."""

    type_name = "struct"


class Dynamic:
    """A value whose fields a template asks for by name."""

    def template_field(self, name: str) -> object:
        raise NotImplementedError


NO_VALUE = "<no value>"  # what Go prints for a missing map key or nil at the top


def type_name(value: object) -> str:
    if value is None:
        return "<nil>"
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int):
        return "int"
    if isinstance(value, float):
        return "float64"
    if isinstance(value, str):
        return "string"
    if isinstance(value, Struct):
        return value.type_name
    if isinstance(value, Mapping):
        return "map[string]interface {}"
    if isinstance(value, Sequence):
        return "[]interface {}"
    return type(value).__name__


def truth(value: object) -> bool:
    """Go's `if`: false, 0, nil and empty strings, slices and maps are false."""
    if isinstance(value, Struct | Dynamic):
        return True
    return bool(value)


def go_float(value: float) -> str:
    """strconv.FormatFloat(f, 'g', -1, 64), fmt's %v: the shortest digits, with an
    exponent from 1e6 up and below 1e-4 (`1e+06`, as Go prints a float64)."""
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    if math.isnan(value):
        return "NaN"
    if value == 0:
        return "-0" if math.copysign(1, value) < 0 else "0"
    sign, digits, exponent = Decimal(repr(value)).as_tuple()
    text = "".join(map(str, digits)).rstrip("0") or "0"
    point = len(digits) + int(exponent)  # digits before the decimal point
    exp = point - 1
    minus = "-" if sign else ""
    if exp < -4 or exp >= 6:
        mantissa = text[0] + ("." + text[1:] if len(text) > 1 else "")
        return f"{minus}{mantissa}e{'-' if exp < 0 else '+'}{abs(exp):02d}"
    if point <= 0:
        return f"{minus}0.{'0' * -point}{text}"
    if point >= len(text):
        return f"{minus}{text}{'0' * (point - len(text))}"
    return f"{minus}{text[:point]}.{text[point:]}"


def go_str(value: object, *, top: bool = True) -> str:
    """fmt.Sprint of one value: `[a b]` for a list, `map[k:v]` for a map."""
    if value is None:
        return NO_VALUE if top else "<nil>"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return value
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return go_float(value)
    if isinstance(value, Struct):
        return "{" + " ".join(go_str(v, top=False) for v in value.values()) + "}"
    if isinstance(value, Mapping):
        items = sorted(value.items(), key=lambda item: str(item[0]))
        return "map[" + " ".join(f"{k}:{go_str(v, top=False)}" for k, v in items) + "]"
    if isinstance(value, Sequence):
        return "[" + " ".join(go_str(v, top=False) for v in value) + "]"
    return str(value)


def to_json(value: object) -> str:
    """Docker's `json` function: compact, HTML left alone, keys in their order."""

    def fallback(item: object) -> object:
        if isinstance(item, Dynamic):
            return str(item)
        raise TypeError(type(item).__name__)

    try:
        return json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=fallback)
    except (TypeError, ValueError) as exc:
        raise TemplateError(f"error calling json: {exc}") from None


def sprint(args: Sequence[object]) -> str:
    """fmt.Sprint: a space between two operands when neither is a string."""
    out: list[str] = []
    for i, arg in enumerate(args):
        if i and not isinstance(arg, str) and not isinstance(args[i - 1], str):
            out.append(" ")
        out.append(go_str(arg, top=False))
    return "".join(out)


def sprintln(args: Sequence[object]) -> str:
    return " ".join(go_str(arg, top=False) for arg in args) + "\n"


# -- printf --------------------------------------------------------------------------------

_FLAGS = "+-# 0"


def _bad(verb: str, value: object) -> str:
    return f"%!{verb}({type_name(value)}={go_str(value, top=False)})"


def _pad(text: str, width: int | None, flags: str, numeric: bool = False) -> str:
    if width is None or len(text) >= width:
        return text
    if "-" in flags:
        return text.ljust(width)
    if "0" in flags and numeric:
        sign = text[0] if text[:1] in "+-" else ""
        return sign + text[len(sign) :].rjust(width - len(sign), "0")
    return text.rjust(width)


def _quote(text: str) -> str:
    return json.dumps(text, ensure_ascii=False)


def _format_one(verb: str, value: object, flags: str, width: int | None, prec: int | None) -> str:
    is_int = isinstance(value, int) and not isinstance(value, bool)
    is_number = is_int or isinstance(value, float)
    plus = "+" if "+" in flags else (" " if " " in flags else "")
    if verb == "v":
        text = go_str(value, top=False)
        if prec is not None and isinstance(value, float):
            text = f"{value:.{prec}g}"
        return _pad(text, width, flags, is_number)
    if verb == "s":
        text = go_str(value, top=False)
        if prec is not None:
            text = text[:prec]
        return _pad(text, width, flags)
    if verb == "q":
        if isinstance(value, str):
            return _pad(_quote(value), width, flags)
        if is_int:
            return _pad("'" + chr(int(value)) + "'", width, flags)  # type: ignore[call-overload]
        return _bad(verb, value)
    if verb == "t":
        return _pad(go_str(value), width, flags) if isinstance(value, bool) else _bad(verb, value)
    if verb == "c":
        return _pad(chr(value), width, flags) if is_int else _bad(verb, value)  # type: ignore[arg-type]
    if verb in "dboxX" and is_int:
        number = int(value)  # type: ignore[call-overload]
        base = {"d": "d", "b": "b", "o": "o", "x": "x", "X": "X"}[verb]
        prefix = ""
        if "#" in flags and verb in "xX":
            prefix = "0x" if verb == "x" else "0X"
        elif "#" in flags and verb == "o":
            prefix = "0"
        digits = format(abs(number), base)
        if prec is not None:
            digits = digits.rjust(prec, "0")
        sign = "-" if number < 0 else plus
        return _pad(sign + prefix + digits, width, flags, numeric=prec is None)
    if verb in "xX" and isinstance(value, str):
        text = value.encode().hex()
        return _pad(text.upper() if verb == "X" else text, width, flags)
    if verb in "eEfFgG" and is_number:
        number = float(value)  # type: ignore[arg-type]
        if verb in "gG" and prec is None:
            text = go_float(number)
            text = text.upper() if verb == "G" else text
        else:
            text = format(number, f"{plus}.{6 if prec is None else prec}{verb}")
        if plus and not text.startswith("-") and not text.startswith(plus):
            text = plus + text
        return _pad(text, width, flags, numeric=True)
    if verb == "T":
        return _pad(type_name(value), width, flags)
    return _bad(verb, value)


def sprintf(template: str, args: Sequence[object]) -> str:
    """fmt.Sprintf for the verbs templates use: %v %s %q %d %x %X %o %b %c %t %e %f %g
    %T %%, flags `+-# 0`, width and precision (numbers, not `*`)."""
    out: list[str] = []
    position = 0
    used = 0
    while position < len(template):
        percent = template.find("%", position)
        if percent < 0:
            out.append(template[position:])
            break
        out.append(template[position:percent])
        cursor = percent + 1
        flags = ""
        while cursor < len(template) and template[cursor] in _FLAGS:
            flags += template[cursor]
            cursor += 1
        width_start = cursor
        while cursor < len(template) and template[cursor].isdigit():
            cursor += 1
        width = int(template[width_start:cursor]) if cursor > width_start else None
        prec: int | None = None
        if cursor < len(template) and template[cursor] == ".":
            cursor += 1
            prec_start = cursor
            while cursor < len(template) and template[cursor].isdigit():
                cursor += 1
            prec = int(template[prec_start:cursor] or "0")
        if cursor >= len(template):
            out.append("%!(NOVERB)")
            break
        verb = template[cursor]
        position = cursor + 1
        if verb == "%":
            out.append("%")
            continue
        if used >= len(args):
            out.append(f"%!{verb}(MISSING)")
            continue
        out.append(_format_one(verb, args[used], flags, width, prec))
        used += 1
    if used < len(args):
        extra = ", ".join(f"{type_name(a)}={go_str(a, top=False)}" for a in args[used:])
        out.append(f"%!(EXTRA {extra})")
    return "".join(out)
