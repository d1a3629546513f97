"""HTTP headers the distribution API depends on, parsed by their RFCs:
WWW-Authenticate challenges (RFC 7235), Link (RFC 8288: pagination), Content-Range and
Range (RFC 9110: resumed downloads, chunked uploads)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from urllib.parse import urljoin

_TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")


@dataclass(frozen=True)
class Challenge:
    """One challenge: `Bearer realm="…",service="…",scope="…"` -> scheme "bearer"."""

    scheme: str
    params: dict[str, str] = field(default_factory=dict)

    @property
    def realm(self) -> str:
        return self.params.get("realm", "")


def parse_challenges(header: str) -> list[Challenge]:
    """Every challenge of a WWW-Authenticate header (several may share one header).
    Malformed parts end the parse; what was understood so far is returned."""
    challenges: list[Challenge] = []
    pos = 0
    text = header
    while pos < len(text):
        pos = _skip(text, pos, ", \t")
        match = _TOKEN.match(text, pos)
        if match is None:
            break
        scheme = match.group().lower()
        pos = match.end()
        params: dict[str, str] = {}
        while True:
            pos = _skip(text, pos, " \t")
            name = _TOKEN.match(text, pos)
            if name is None:
                break
            after = _skip(text, name.end(), " \t")
            if after >= len(text) or text[after] != "=":
                break  # the token is the next challenge's scheme
            if after + 1 < len(text) and text[after + 1] == "=":
                # token68 (`Negotiate abc==`): no parameters; skip to the next challenge
                comma = text.find(",", after)
                pos = len(text) if comma < 0 else comma
                break
            pos = _skip(text, after + 1, " \t")
            value, pos = _value(text, pos)
            params[name.group().lower()] = value
            pos = _skip(text, pos, " \t")
            if pos < len(text) and text[pos] == ",":
                pos += 1
                continue
            break
        challenges.append(Challenge(scheme, params))
    return challenges


def _skip(text: str, pos: int, chars: str) -> int:
    while pos < len(text) and text[pos] in chars:
        pos += 1
    return pos


def _value(text: str, pos: int) -> tuple[str, int]:
    if pos < len(text) and text[pos] == '"':
        out: list[str] = []
        pos += 1
        while pos < len(text):
            char = text[pos]
            if char == "\\" and pos + 1 < len(text):
                out.append(text[pos + 1])
                pos += 2
                continue
            if char == '"':
                return "".join(out), pos + 1
            out.append(char)
            pos += 1
        return "".join(out), pos
    # A bare value should be a token; registries also send bare URLs, so read to the
    # next comma or space.
    end = pos
    while end < len(text) and text[end] not in ", \t":
        end += 1
    return text[pos:end], end


_LINK = re.compile(r"<([^>]*)>\s*((?:;\s*[^;,]+)*)")


def next_link(header: str | None, base: str) -> str | None:
    """The absolute URL of the `rel="next"` link of a Link header, if any."""
    if not header:
        return None
    for match in _LINK.finditer(header):
        target, params = match.groups()
        for param in params.split(";"):
            name, _, value = param.strip().partition("=")
            if name.strip().lower() == "rel" and "next" in value.strip().strip('"').split():
                return urljoin(base, str(target))
    return None


_RANGE = re.compile(r"(?:bytes[ =])?(\d+)-(\d+)")


def parse_range(header: str | None) -> tuple[int, int] | None:
    """`0-1023` (an upload's Range) or `bytes 100-199/200` (Content-Range) -> (first,
    last), inclusive; None when absent or malformed."""
    if not header:
        return None
    match = _RANGE.match(header.strip())
    if match is None:
        return None
    first, last = int(match.group(1)), int(match.group(2))
    return (first, last) if last >= first else None


def media_type(content_type: str | None) -> str:
    """The media type of a Content-Type, parameters dropped (the spec says to)."""
    return (content_type or "").split(";", 1)[0].strip()
