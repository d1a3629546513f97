"""Times and durations as Docker reads and writes them: RFC 3339 with nanoseconds, Go
durations (`1m30s`), and the `--since`/`--until` forms (a time, a Unix time, or a
duration ago)."""

from __future__ import annotations

import re
import time

from capsa.errors import InvalidArgument

_DURATION_PART = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|ms|s|m|h)")
_DURATION_UNITS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1, "m": 60, "h": 3600}


def rfc3339(seconds: float) -> str:
    """Whole seconds, as image configs carry their times: 2023-11-14T22:13:20Z."""
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(int(seconds)))


def rfc3339_nano(ns: int | None = None) -> str:
    ns = time.time_ns() if ns is None else ns
    stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ns // 10**9))
    return f"{stamp}.{ns % 10**9:09d}Z"


def parse_rfc3339_ns(text: str) -> int:
    """RFC 3339 (any fraction, Z or ±hh:mm) -> nanoseconds since the epoch."""
    from datetime import datetime

    text = text.strip()
    fraction = 0
    zone = ""
    if text.endswith("Z"):
        text, zone = text[:-1], "+00:00"
    elif len(text) > 6 and text[-6] in "+-" and text[-3] == ":":
        text, zone = text[:-6], text[-6:]
    if "." in text:
        text, digits = text.split(".", 1)
        fraction = int((digits + "000000000")[:9])
    moment = datetime.fromisoformat(text + (zone or "+00:00"))
    return int(moment.timestamp()) * 10**9 + fraction


def parse_duration(text: str, flag: str) -> float:
    """A Go duration (`30s`, `1m30s`, `500ms`) in seconds; a bare number is seconds."""
    text = text.strip()
    if re.fullmatch(r"\d+(\.\d+)?", text):
        return float(text)
    position = 0
    total = 0.0
    for match in _DURATION_PART.finditer(text):
        if match.start() != position:
            break
        total += float(match.group(1)) * _DURATION_UNITS[match.group(2)]
        position = match.end()
    if position != len(text) or not text:
        raise InvalidArgument(
            f"invalid {flag} {text!r}", hint="use a duration such as 30s or 1m30s"
        )
    return total


def parse_time_arg(text: str, flag: str) -> int:
    """--since/--until/until=: RFC 3339, a Unix time (with fraction), or a duration ago
    (10m); nanoseconds since the epoch."""
    try:
        return int(float(text) * 1e9)
    except ValueError:
        pass
    try:
        return time.time_ns() - int(parse_duration(text, flag) * 1e9)
    except InvalidArgument:
        pass
    try:
        return parse_rfc3339_ns(text if "T" in text else f"{text}T00:00:00Z")
    except ValueError:
        raise InvalidArgument(
            f"invalid {flag} {text!r}", hint="use RFC 3339, a Unix time or a duration like 10m"
        ) from None
