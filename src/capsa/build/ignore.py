""".dockerignore / .containerignore: which context paths a build leaves out.

Docker's rules (moby/patternmatcher): each line is trimmed; a line starting with `#`
is a comment; patterns are cleaned like Go's filepath.Clean with a leading `/`
dropped; `!` makes an exception; the last pattern that matches wins. `*` matches any
run of characters except `/`, `?` one such character, `[...]` a class, `\\` escapes,
`**` any number of directories (zero included). A pattern that matches a directory
excludes everything below it.

Docker never leaves the Dockerfile or the ignore file itself out of what the builder
*reads* (they are sent apart); the caller handles that, these rules do not.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from capsa.errors import InvalidArgument

_REGEX_SPECIAL = frozenset(".+()|{}$^")


def clean_path(path: str) -> str:
    """Go's filepath.Clean for "/" paths (posixpath.normpath keeps a leading "//")."""
    if path == "":
        return "."
    rooted = path.startswith("/")
    parts: list[str] = []
    for segment in path.split("/"):
        if segment in ("", "."):
            continue
        if segment == "..":
            if parts and parts[-1] != "..":
                parts.pop()
            elif not rooted:
                parts.append("..")
            continue
        parts.append(segment)
    joined = "/".join(parts)
    if rooted:
        return "/" + joined
    return joined or "."


def _bad_pattern(pattern: str, why: str) -> InvalidArgument:
    return InvalidArgument(
        f"invalid ignore pattern {pattern!r}: {why}",
        hint="fix the pattern (escape a literal [, ] or - with \\) or remove the line",
    )


def _class(pattern: str, start: int) -> tuple[str, int]:
    """The regex of the bracket expression at pattern[start] == "[", and its end.

    Go's filepath.Match rules: `^` negates; a `-` or `]` must be escaped unless it
    ends a range or the class; the class must close.
    """
    n = len(pattern)
    i = start + 1
    negate = i < n and pattern[i] == "^"
    if negate:
        i += 1

    def char(i: int) -> tuple[str, int]:
        if i >= n or pattern[i] in "-]":
            raise _bad_pattern(pattern, "malformed bracket expression")
        if pattern[i] == "\\":
            i += 1
            if i >= n:
                raise _bad_pattern(pattern, "malformed bracket expression")
        if i + 1 >= n:
            raise _bad_pattern(pattern, "unterminated [")
        return pattern[i], i + 1

    ranges: list[tuple[str, str]] = []
    while True:
        if i < n and pattern[i] == "]" and ranges:
            i += 1
            break
        lo, i = char(i)
        hi = lo
        if pattern[i] == "-":
            hi, i = char(i + 1)
        ranges.append((lo, hi))
    # A reversed range matches nothing in Go; Python's re would refuse it.
    items = [re.escape(lo) if lo == hi else f"{re.escape(lo)}-{re.escape(hi)}"
             for lo, hi in ranges if lo <= hi]  # fmt: skip
    if not items:
        return ("(?s:.)" if negate else "(?!)"), i
    return "[" + ("^" if negate else "") + "".join(items) + "]", i


def _translate(pattern: str) -> tuple[str, str]:
    """(kind, regex) of a cleaned pattern; kind as patternmatcher's match types."""
    out = ["^"]
    kind = "exact"
    i, n = 0, len(pattern)
    first = True
    while i < n:
        ch = pattern[i]
        i += 1
        at_start, first = first, False
        if ch == "*":
            if i < n and pattern[i] == "*":
                i += 1
                if i < n and pattern[i] == "/":  # **/ is the same as **
                    i += 1
                if i == n:  # a trailing ** takes everything below
                    if kind == "exact":
                        kind = "prefix"
                    else:
                        out.append(".*")
                        kind = "regex"
                else:
                    out.append("(.*/)?")
                    kind = "regex"
                if at_start:
                    kind = "suffix"
            else:
                out.append("[^/]*")
                kind = "regex"
        elif ch == "?":
            out.append("[^/]")
            kind = "regex"
        elif ch == "\\":
            if i < n:
                out.append(re.escape(pattern[i]))
                i += 1
                kind = "regex"
            else:
                raise _bad_pattern(pattern, "it ends with an escape character")
        elif ch == "[":
            regex, i = _class(pattern, i - 1)
            out.append(regex)
            kind = "regex"
        elif ch in _REGEX_SPECIAL:
            out.append("\\" + ch)
        else:
            out.append(re.escape(ch))
    out.append("$")
    return kind, "".join(out)


def name_matcher(pattern: str) -> Callable[[str], bool]:
    """Go's filepath.Match for one path segment (no `/`): `*` any run, `?` one
    character, `[...]` a class (`^` negates), `\\` escapes; a malformed pattern is
    refused, as Go's ErrBadPattern."""
    out: list[str] = []
    i, n = 0, len(pattern)
    while i < n:
        ch = pattern[i]
        i += 1
        if ch == "*":
            out.append("[^/]*")
        elif ch == "?":
            out.append("[^/]")
        elif ch == "\\":
            if i >= n:
                raise _bad_pattern(pattern, "it ends with an escape character")
            out.append(re.escape(pattern[i]))
            i += 1
        elif ch == "[":
            regex, i = _class(pattern, i - 1)
            out.append(regex)
        else:
            out.append(re.escape(ch))
    compiled = re.compile("".join(out) + r"\Z", re.DOTALL)
    return lambda name: compiled.match(name) is not None


@dataclass(frozen=True)
class _Pattern:
    text: str  # cleaned, without the !
    exclusion: bool
    match: Callable[[str], bool]
    segments: tuple[str, ...]


def _compile(text: str, exclusion: bool) -> _Pattern:
    kind, regex = _translate(text)
    match: Callable[[str], bool]
    if kind == "exact":

        def match(path: str) -> bool:
            return path == text

    elif kind == "prefix":
        prefix = text[:-2]

        def match(path: str) -> bool:
            return path.startswith(prefix)

    elif kind == "suffix":
        suffix = text[2:]

        def match(path: str) -> bool:
            # **/foo matches foo too
            return path.endswith(suffix) or (suffix.startswith("/") and path == suffix[1:])

    else:
        compiled = re.compile(regex, re.DOTALL)

        def match(path: str) -> bool:
            return compiled.match(path) is not None

    return _Pattern(text, exclusion, match, tuple(text.split("/")))


class IgnoreRules:
    """Compiled ignore patterns; `ignored()` answers as Docker's builder does."""

    def __init__(self, patterns: Sequence[str], *, source: str | None = None) -> None:
        self.source = source  # the file the patterns came from, for messages
        self.patterns: list[str] = []
        self._compiled: list[_Pattern] = []
        for raw in patterns:
            pattern = raw.strip()
            if not pattern:
                continue
            exclusion = pattern.startswith("!")
            if exclusion:
                pattern = pattern[1:].strip()
                if not pattern:
                    where = f" in {source}" if source else ""
                    raise InvalidArgument(
                        f'illegal exclusion pattern "!"{where}',
                        hint="write !path to re-include a path, or remove the line",
                    )
            pattern = clean_path(pattern)
            if len(pattern) > 1 and pattern.startswith("/"):
                pattern = pattern.lstrip("/") or "."
            self.patterns.append(("!" if exclusion else "") + pattern)
            self._compiled.append(_compile(pattern, exclusion))
        self.has_exclusions = any(p.exclusion for p in self._compiled)

    def __bool__(self) -> bool:
        return bool(self._compiled)

    def ignored(self, path: str) -> bool:
        """Whether `path` (relative to the context, "/"-separated) is left out."""
        path = clean_path(path).lstrip("/")
        if path in (".", ""):
            return False  # the context itself is never left out
        parent = path.rpartition("/")[0]
        parent_dirs = parent.split("/") if parent else []
        matched = False
        for pattern in self._compiled:
            # An inclusion that already matched, or an exception before any match,
            # cannot change the answer.
            if pattern.exclusion != matched:
                continue
            hit = pattern.match(path)
            if not hit:
                for i in range(len(parent_dirs)):
                    if pattern.match("/".join(parent_dirs[: i + 1])):
                        hit = True
                        break
            if hit:
                matched = not pattern.exclusion
        return matched

    def may_contain_kept(self, directory: str) -> bool:
        """Whether an ignored `directory` may hold a path an exception re-includes.

        A walker skips an ignored directory only when this is False. Conservative: True
        whenever some `!` pattern could match the directory, an ancestor or a path below.
        """
        if not self.has_exclusions:
            return False
        dirs = clean_path(directory).lstrip("/").split("/")
        return any(p.exclusion and _could_reach(p.segments, dirs) for p in self._compiled)


def _could_reach(segments: tuple[str, ...], dirs: list[str]) -> bool:
    for k, segment in enumerate(segments):
        if "**" in segment or k >= len(dirs):
            return True
        _, regex = _translate(segment)
        if not re.match(regex, dirs[k], re.DOTALL):
            return False
    return True  # it matches the directory or an ancestor


def parse_ignore_file(text: str) -> list[str]:
    """The patterns of an ignore file's text (Docker's ignorefile.ReadAll)."""
    if text.startswith("\ufeff"):
        text = text[1:]
    patterns: list[str] = []
    for line in text.split("\n"):  # not splitlines(): \v, \f... are no line ends here
        if line.startswith("#"):  # only at column 0, before trimming
            continue
        pattern = line.strip()
        if not pattern:
            continue
        exclusion = pattern.startswith("!")
        if exclusion:
            pattern = pattern[1:].strip()
        if pattern:
            pattern = clean_path(pattern)
            if len(pattern) > 1 and pattern.startswith("/"):
                pattern = pattern[1:]
        patterns.append(("!" if exclusion else "") + pattern)
    return patterns


def ignore_file_path(context_dir: str, dockerfile: str | None = None) -> str | None:
    """The ignore file a build of `context_dir` uses, or None.

    In order: `<Dockerfile>.dockerignore` beside the Dockerfile (BuildKit), then the
    context's `.containerignore` (Podman), then its `.dockerignore`. A relative
    `dockerfile` is taken relative to the context.
    """
    candidates = []
    if dockerfile and dockerfile != "-":
        candidates.append(os.path.join(context_dir, dockerfile) + ".dockerignore")
    candidates.append(os.path.join(context_dir, ".containerignore"))
    candidates.append(os.path.join(context_dir, ".dockerignore"))
    for candidate in candidates:
        if os.path.isfile(candidate):
            return candidate
    return None


def read_ignore_file(context_dir: str, dockerfile: str | None = None) -> IgnoreRules:
    """The rules of the ignore file `ignore_file_path` finds; no rules without one."""
    path = ignore_file_path(context_dir, dockerfile)
    if path is None:
        return IgnoreRules([])
    try:
        with open(path, encoding="utf-8", errors="surrogateescape") as f:
            text = f.read()
    except OSError as e:
        raise InvalidArgument(
            f"cannot read the ignore file {path}: {e.strerror}",
            hint="check its permissions, or remove it",
        ) from None
    return IgnoreRules(parse_ignore_file(text), source=path)
