"""The Dockerfile parser: text to instructions, with Docker's (BuildKit's) rules.

Pure: no I/O, no variable substitution (see `shellwords`; the executor expands each
instruction with the ARG/ENV values in scope when it runs). What Docker checks while
parsing is checked here, with the file and line in the message: parser directives,
unknown instructions and flags, argument counts, the place of FROM, heredocs.

Lines: a BOM is stripped, CRLF accepted; `#` after leading whitespace starts a comment
(also between continuation lines); the escape character at the end of a line continues
it; empty continuation lines are allowed with a warning; leading whitespace of the
first line is dropped, that of continuation lines kept (as Docker joins them).
"""

from __future__ import annotations

import json as _json
import re
from collections.abc import Callable
from dataclasses import dataclass, field, replace

from capsa.build.shellwords import (
    _Lexer,
    _Options,
    _SyntaxError,
    _unset,
    arg_definitions,
    is_space,
    key_values,
    split_raw_words,
)
from capsa.errors import InvalidArgument

KEYWORDS = (
    "ADD", "ARG", "CMD", "COPY", "ENTRYPOINT", "ENV", "EXPOSE", "FROM", "HEALTHCHECK",
    "LABEL", "MAINTAINER", "ONBUILD", "RUN", "SHELL", "STOPSIGNAL", "USER", "VOLUME",
    "WORKDIR",
)  # fmt: skip

# Flag kinds, as BuildKit's BFlags: a string needs =value, a bool takes none or
# =true/=false, a list is a string that may be repeated.
_STRING, _BOOL, _LIST = "string", "bool", "list"
_FLAGS: dict[str, dict[str, str]] = {
    "FROM": {"platform": _STRING},
    "RUN": {"mount": _LIST, "network": _STRING, "security": _STRING},
    "COPY": {
        "from": _STRING, "chown": _STRING, "chmod": _STRING, "link": _BOOL,
        "parents": _BOOL, "exclude": _LIST,
    },
    "ADD": {
        "chown": _STRING, "chmod": _STRING, "link": _BOOL, "keep-git-dir": _BOOL,
        "checksum": _STRING, "exclude": _LIST,
    },
    "HEALTHCHECK": {
        "interval": _STRING, "timeout": _STRING, "start-period": _STRING,
        "start-interval": _STRING, "retries": _STRING,
    },
}  # fmt: skip
_HEREDOC_KEYWORDS = frozenset({"RUN", "COPY", "ADD"})
_VALID_DIRECTIVES = frozenset({"syntax", "escape", "check"})
_DIRECTIVE_RE = re.compile(r"^#\s*([a-zA-Z][a-zA-Z0-9]*)\s*=\s*(.+?)\s*$")
_WHITESPACE_RE = re.compile(r"[\t\v\f\r ]+")
_HEREDOC_RE = re.compile(r"^(\d*)<<(-?)[\s\x00]*([^<]*)$", re.DOTALL)
_HEREDOC_BLANKS_RE = re.compile(r"(<<-?)([ \t]+)")
_LEADING_TABS_RE = re.compile(r"^\t+", re.MULTILINE)
_STAGE_NAME_RE = re.compile(r"^[a-z][a-z0-9\-_.]*$")
_GO_DURATION_RE = re.compile(r"([0-9]*(?:\.[0-9]*)?)(ns|us|µs|μs|ms|s|m|h)")
_GO_UNITS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "μs": 1e-6, "ms": 1e-3, "s": 1.0,
             "m": 60.0, "h": 3600.0}  # fmt: skip


@dataclass(frozen=True)
class Heredoc:
    name: str  # the delimiter word, e.g. "EOF"
    content: str  # the body, each line ending with "\n"
    expand: bool  # False when the delimiter was quoted (<<"EOF" / <<'EOF')
    chomp: bool  # True for <<-EOF (leading tabs already stripped from the body)


@dataclass(frozen=True)
class Flag:
    name: str  # without the leading --, e.g. "mount", "from", "chown"
    value: str | None  # None for a bare flag such as --link


@dataclass(frozen=True)
class Instruction:
    keyword: str  # upper case: FROM, RUN, COPY, ...
    flags: tuple[Flag, ...]  # in order; --mount and --exclude may repeat
    json: tuple[str, ...] | None  # the exec (JSON array) form's strings
    text: str  # the arguments after the flags, continuation lines joined, stripped
    heredocs: tuple[Heredoc, ...]  # RUN/COPY/ADD heredocs, in order
    line: int  # 1-based line where the instruction starts
    end_line: int  # its last line (heredoc bodies included)
    original: str  # the instruction's logical line, as Docker joins it
    onbuild: Instruction | None = None  # ONBUILD's trigger, parsed

    def flag(self, name: str) -> str | None:
        """The last value of --name (None when absent or given bare)."""
        value: str | None = None
        for f in self.flags:
            if f.name == name:
                value = f.value
        return value

    def flag_values(self, name: str) -> list[str]:
        """Every value of --name, in order (bare occurrences left out)."""
        return [f.value for f in self.flags if f.name == name and f.value is not None]

    def has_flag(self, name: str) -> bool:
        return any(f.name == name for f in self.flags)


@dataclass(frozen=True)
class Dockerfile:
    filename: str
    directives: dict[str, str]  # syntax, escape, check (lower-case keys)
    escape: str  # "\\" or "`"
    instructions: tuple[Instruction, ...]
    warnings: tuple[str, ...] = field(default=())  # "FILE:LINE: ..." each


class DockerfileError(InvalidArgument):
    """A Dockerfile Docker would refuse; the message starts with FILE:LINE."""

    def __init__(self, filename: str, line: int, reason: str, *, hint: str | None = None):
        super().__init__(f"{filename}:{line}: {reason}", hint=hint)
        self.filename = filename
        self.line = line
        self.reason = reason


def go_duration_seconds(text: str) -> float:
    """A Go duration ("30s", "1m30s", "1.5h", "0") in seconds; ValueError if malformed."""
    rest = text
    sign = 1.0
    if rest[:1] in ("+", "-"):
        sign = -1.0 if rest[0] == "-" else 1.0
        rest = rest[1:]
    if rest == "0":
        return 0.0
    total = 0.0
    pos = 0
    if not rest:
        raise ValueError(f"invalid duration {text!r}")
    while pos < len(rest):
        m = _GO_DURATION_RE.match(rest, pos)
        if not m or m.group(1) in ("", "."):
            raise ValueError(f"invalid duration {text!r}")
        total += float(m.group(1)) * _GO_UNITS[m.group(2)]
        pos = m.end()
    return sign * total


# -- reading lines -------------------------------------------------------------------


class _Lines:
    """The file's lines without their line ends, and a cursor (1-based numbers)."""

    def __init__(self, text: str) -> None:
        if text.startswith("\ufeff"):
            text = text[1:]
        lines = text.split("\n")
        if lines and lines[-1] == "":
            lines.pop()
        # TrimRight("\r\n") as Docker does: CRLF files read like LF ones
        self.lines = [line.rstrip("\r\n") for line in lines]
        self.next_index = 0

    def more(self) -> bool:
        return self.next_index < len(self.lines)

    def take(self) -> tuple[int, str]:
        line = self.lines[self.next_index]
        self.next_index += 1
        return self.next_index, line

    @property
    def last_number(self) -> int:
        return self.next_index


def _lstrip(text: str) -> str:
    i = 0
    while i < len(text) and is_space(text[i]):
        i += 1
    return text[i:]


def _strip(text: str) -> str:
    text = _lstrip(text)
    j = len(text)
    while j > 0 and is_space(text[j - 1]):
        j -= 1
    return text[:j]


def _is_comment(line: str) -> bool:
    return _lstrip(line).startswith("#")


class _Parser:
    def __init__(self, text: str, filename: str) -> None:
        self.filename = filename
        self.lines = _Lines(text)
        self.escape = "\\"
        self.continuation = self._continuation_re("\\")
        self.directives: dict[str, str] = {}
        self.directives_done = False
        self.warnings: list[str] = []

    def error(self, line: int, reason: str, hint: str | None = None) -> DockerfileError:
        return DockerfileError(self.filename, line, reason, hint=hint)

    def warn(self, line: int, message: str) -> None:
        self.warnings.append(f"{self.filename}:{line}: {message}")

    @staticmethod
    def _continuation_re(escape: str) -> re.Pattern[str]:
        # The escape character last on a line (trailing blanks allowed) continues it,
        # unless it is itself escaped; or alone on a line.
        e = re.escape(escape)
        return re.compile(rf"([^{e}]){e}[ \t]*$|^{e}[ \t]*$")

    def _trim_continuation(self, line: str) -> tuple[str, bool]:
        """The line without its continuation character, and whether it continues."""
        m = self.continuation.search(line)
        if not m:
            return line, False
        return line[: m.start()] + (m.group(1) or ""), True

    def _directive(self, number: int, line: str) -> bool:
        """Record a parser directive; False once directives are over."""
        if self.directives_done:
            return False
        m = _DIRECTIVE_RE.match(line)
        if not m or m.group(1).lower() not in _VALID_DIRECTIVES:
            self.directives_done = True
            return False
        key, value = m.group(1).lower(), m.group(2)
        if key in self.directives:
            raise self.error(number, f"only one {key} parser directive can be used")
        if key == "escape":
            if value not in ("\\", "`"):
                raise self.error(
                    number,
                    f"invalid escape token {value!r} does not match ` or \\",
                    hint="write # escape=\\ or # escape=`",
                )
            self.escape = value
            self.continuation = self._continuation_re(value)
        self.directives[key] = value
        return True

    def parse(self) -> Dockerfile:
        instructions: list[Instruction] = []
        while self.lines.more():
            number, raw = self.lines.take()
            line = _lstrip(raw)
            if self._directive(number, line) or line.startswith("#"):
                continue
            logical, continues = self._trim_continuation(line)
            if not continues and logical == "":
                continue
            empty_continuation = False
            while continues and self.lines.more():
                _, raw = self.lines.take()
                if _is_comment(raw):
                    continue
                if _strip(raw) == "":
                    empty_continuation = True
                    continue
                piece, continues = self._trim_continuation(raw)
                logical += piece
            if empty_continuation:
                self.warn(
                    number,
                    "NoEmptyContinuation: empty continuation line "
                    "(it will become an error in a future Docker release)",
                )
            instructions.append(self._instruction(logical, number))
        if not instructions:
            raise self.error(max(self.lines.last_number, 1), "file with no instructions",
                             hint="a Dockerfile starts with FROM")  # fmt: skip
        self._check_order(instructions)
        return Dockerfile(
            filename=self.filename,
            directives=dict(self.directives),
            escape=self.escape,
            instructions=tuple(instructions),
            warnings=tuple(self.warnings),
        )

    def _check_order(self, instructions: list[Instruction]) -> None:
        for ins in instructions:
            if ins.keyword == "FROM":
                return
            if ins.keyword != "ARG":
                raise self.error(
                    ins.line,
                    f"{ins.keyword} before the first FROM (no build stage in current context)",
                    hint="only ARG may come before the first FROM",
                )
        raise self.error(instructions[-1].line, "no FROM instruction: nothing to build",
                         hint="start the build stage with FROM <image>")  # fmt: skip

    # -- one instruction ---------------------------------------------------------------

    def _instruction(self, logical: str, number: int) -> Instruction:
        ins = self._node(logical, number, inside_onbuild=False)
        heredoc_owner = ins.onbuild if ins.onbuild is not None else ins
        if heredoc_owner.keyword in _HEREDOC_KEYWORDS and heredoc_owner.json is None:
            specs = _heredoc_specs(heredoc_owner.text) if "<<" in heredoc_owner.text else []
            if specs:
                heredocs = tuple(self._read_heredoc(spec, number) for spec in specs)
                end = self.lines.last_number
                if ins.onbuild is not None:
                    inner = replace(ins.onbuild, heredocs=heredocs, end_line=end)
                    ins = replace(ins, onbuild=inner, end_line=end)
                else:
                    ins = replace(ins, heredocs=heredocs, end_line=end)
                self._check_heredoc_use(heredoc_owner.keyword, heredoc_owner.text, number)
        return ins

    def _read_heredoc(self, spec: tuple[str, bool, bool], number: int) -> Heredoc:
        name, expand, chomp = spec
        body: list[str] = []
        while self.lines.more():
            _, line = self.lines.take()
            candidate = line.lstrip("\t") if chomp else line
            if candidate == name:
                content = "".join(body)
                if chomp:
                    content = _LEADING_TABS_RE.sub("", content)
                return Heredoc(name=name, content=content, expand=expand, chomp=chomp)
            body.append(line + "\n")
        raise self.error(
            number,
            f"unterminated heredoc <<{name}: no line {name!r} ends it",
            hint=f"end the body with a line holding only {name}",
        )

    def _check_heredoc_use(self, keyword: str, text: str, number: int) -> None:
        if keyword in ("COPY", "ADD"):
            words = _WHITESPACE_RE.split(text)
            if _HEREDOC_RE.match(words[-1]):
                raise self.error(number, f"{keyword} cannot accept a heredoc as a destination")

    def _node(self, logical: str, number: int, *, inside_onbuild: bool) -> Instruction:
        stripped = _strip(logical)
        parts = _WHITESPACE_RE.split(stripped, maxsplit=1)
        word = parts[0]
        keyword = word.upper()
        rest = parts[1] if len(parts) == 2 else ""
        if keyword not in KEYWORDS:
            import difflib  # only for the error's suggestion

            close = difflib.get_close_matches(keyword, KEYWORDS, n=1)
            hint = f"did you mean {close[0]}?" if close else "see the Dockerfile reference"
            raise self.error(number, f"unknown instruction: {word}", hint=hint)
        args, raw_flags = _extract_flags(rest)
        args = _strip(args)
        flags = self._flags(keyword, raw_flags, number)
        onbuild: Instruction | None = None
        json_form: tuple[str, ...] | None = None
        if keyword == "ONBUILD":
            if inside_onbuild:
                raise self.error(number, "chaining ONBUILD via `ONBUILD ONBUILD` isn't allowed")
            if not args:
                raise self.error(number, "ONBUILD requires at least one argument")
            trigger = _WHITESPACE_RE.split(args, maxsplit=1)[0].upper()
            if trigger == "ONBUILD":
                raise self.error(number, "chaining ONBUILD via `ONBUILD ONBUILD` isn't allowed")
            if trigger in ("FROM", "MAINTAINER"):
                raise self.error(number, f"{trigger} isn't allowed as an ONBUILD trigger")
            onbuild = self._node(args, number, inside_onbuild=True)
        elif keyword == "HEALTHCHECK":
            json_form = self._healthcheck(args, flags, number)
        else:
            json_form = self._check_args(keyword, args, number)
        return Instruction(
            keyword=keyword,
            flags=flags,
            json=json_form,
            text=args,
            heredocs=(),
            line=number,
            end_line=self.lines.last_number,
            original=stripped,
            onbuild=onbuild,
        )

    def _flags(self, keyword: str, raw: list[str], number: int) -> tuple[Flag, ...]:
        known = _FLAGS.get(keyword, {})
        seen: set[str] = set()
        out: list[Flag] = []
        for word in raw:
            name, eq, value = word[2:].partition("=")
            kind = known.get(name)
            if kind is None:
                hint = (
                    f"{keyword} takes " + ", ".join(f"--{k}" for k in known)
                    if known
                    else f"{keyword} takes no flags"
                )
                raise self.error(number, f"unknown flag: --{name} for {keyword}", hint=hint)
            if name in seen and kind != _LIST:
                raise self.error(number, f"duplicate flag specified: --{name}")
            seen.add(name)
            if kind == _BOOL:
                if eq and value == "":
                    raise self.error(number, f"missing a value on flag: --{name}")
                if eq and value.lower() not in ("true", "false"):
                    raise self.error(
                        number, f"expecting boolean value for flag --{name}, not: {value}"
                    )
                out.append(Flag(name, value.lower() if eq else None))
            else:
                if not eq:
                    raise self.error(
                        number, f"missing a value on flag: --{name}", hint=f"write --{name}=VALUE"
                    )
                out.append(Flag(name, value))
        return tuple(out)

    def _json(self, args: str, number: int) -> tuple[str, ...] | None:
        """The exec form's list when args are a JSON array; None for the shell form."""
        candidate = _lstrip(args)
        if not candidate.startswith("["):
            return None
        try:
            value = _json.loads(candidate, parse_constant=_reject_constant)
        except ValueError:
            return None  # Docker's rule: not JSON, so the shell form
        if not isinstance(value, list):  # pragma: no cover - starts with "["
            return None
        if not all(isinstance(item, str) for item in value):
            raise self.error(
                number, "when using JSON array syntax, arrays must be comprised of strings only"
            )
        return tuple(value)

    def _check_args(self, keyword: str, args: str, number: int) -> tuple[str, ...] | None:
        """Docker's parse-time checks of one keyword; the JSON form when it has one."""
        words = _WHITESPACE_RE.split(args) if args else []
        json_form: tuple[str, ...] | None = None
        if keyword in ("RUN", "CMD", "ENTRYPOINT", "SHELL", "COPY", "ADD", "VOLUME"):
            json_form = self._json(args, number)
        count = len(json_form) if json_form is not None else len(words)

        def need(condition: bool, reason: str, hint: str | None = None) -> None:
            if not condition:
                raise self.error(number, reason, hint=hint)

        if keyword == "FROM":
            need(count > 0, "FROM requires either one or three arguments",
                 "write FROM <image> [AS <name>]")  # fmt: skip
            if count == 3 and words[1].lower() == "as":
                need(
                    bool(_STAGE_NAME_RE.match(words[2].lower())),
                    f"invalid name for build stage: {words[2]!r}, name can't start with a "
                    "number or contain symbols",
                )
            else:
                need(count == 1, "FROM requires either one or three arguments",
                     "write FROM <image> [AS <name>]")  # fmt: skip
        elif keyword == "RUN":
            need(count > 0 or json_form is not None, "RUN requires at least one argument")
        elif keyword in ("COPY", "ADD"):
            need(
                count >= 2,
                f"{keyword} requires at least two arguments, but only one was provided. "
                "Destination could not be determined" if count == 1
                else f"{keyword} requires at least two arguments",
                f"write {keyword} <src>... <dest>",
            )  # fmt: skip
        elif keyword == "SHELL":
            need(json_form is not None,
                 "SHELL requires the arguments to be in JSON form",
                 'write SHELL ["executable", "parameters"]')  # fmt: skip
            need(count > 0, "SHELL requires at least one argument")
        elif keyword in ("WORKDIR", "USER", "STOPSIGNAL", "MAINTAINER"):
            # Docker takes the whole rest of the line as the one argument.
            need(bool(args), f"{keyword} requires exactly one argument")
            if keyword == "MAINTAINER":
                self.warn(
                    number,
                    "MaintainerDeprecated: MAINTAINER is deprecated: use LABEL maintainer=...",
                )
        elif keyword in ("EXPOSE", "VOLUME"):
            need(count > 0, f"{keyword} requires at least one argument")
            if keyword == "VOLUME" and json_form is not None:
                need(all(_strip(v) for v in json_form),
                     "VOLUME specified can not be an empty string")  # fmt: skip
        elif keyword in ("ENV", "LABEL"):
            pairs = self._wrap(number, lambda: key_values(args, None, escape=self.escape,
                                                          keyword=keyword))  # fmt: skip
            del pairs
            if "=" not in split_raw_words(args, self.escape)[0]:
                self.warn(
                    number,
                    f'LegacyKeyValueFormat: legacy "{keyword} key value" form: '
                    f'write "{keyword} key=value"',
                )
        elif keyword == "ARG":
            self._wrap(number, lambda: arg_definitions(args, None, escape=self.escape))
        # CMD and ENTRYPOINT may be empty (ENTRYPOINT [] clears it).
        return json_form

    def _wrap(self, number: int, check: Callable[[], object]) -> object:
        try:
            return check()
        except InvalidArgument as e:
            raise self.error(number, e.message, hint=e.hint) from None

    def _healthcheck(
        self, args: str, flags: tuple[Flag, ...], number: int
    ) -> tuple[str, ...] | None:
        if not args:
            raise self.error(
                number,
                "HEALTHCHECK requires at least one argument",
                hint="write HEALTHCHECK [OPTIONS] CMD command, or HEALTHCHECK NONE",
            )
        parts = _WHITESPACE_RE.split(args, maxsplit=1)
        kind = parts[0].upper()
        rest = parts[1] if len(parts) == 2 else ""
        if kind == "NONE":
            if rest:
                raise self.error(number, "HEALTHCHECK NONE takes no arguments")
            return None
        if kind != "CMD":
            raise self.error(number, f"unknown type {parts[0]!r} in HEALTHCHECK (try CMD)")
        json_form = self._json(rest, number)
        if (json_form is not None and not json_form) or not rest:
            raise self.error(number, "missing command after HEALTHCHECK CMD")
        for f in flags:
            assert f.value is not None  # every HEALTHCHECK flag is a string flag
            if f.name == "retries":
                try:
                    retries = int(f.value)
                except ValueError:
                    raise self.error(
                        number, f"--retries must be an integer, not {f.value!r}"
                    ) from None
                if retries < 0:
                    raise self.error(number, f"--retries cannot be negative ({retries})")
                continue
            if f.value == "":
                continue
            try:
                seconds = go_duration_seconds(f.value)
            except ValueError:
                raise self.error(
                    number,
                    f"--{f.name}: invalid duration {f.value!r}",
                    hint="write a duration such as 30s, 1m30s or 500ms",
                ) from None
            if seconds != 0 and seconds < 0.001:
                raise self.error(number, f"--{f.name} cannot be less than 1ms")
        return json_form


def _reject_constant(name: str) -> object:
    raise ValueError(f"{name} is not JSON")  # Go's decoder refuses NaN and Infinity


def _extract_flags(line: str) -> tuple[str, list[str]]:
    """Split leading `--name[=value]` words off; the rest of the line and the flags.

    As BuildKit: quotes in a flag are removed, `\\` escapes the next character, and a
    lone `--` ends the flags.
    """
    words: list[str] = []
    word: list[str] = []
    in_word = in_quote = False
    quote = ""
    blank_ok = False
    pos, n = 0, len(line)
    while pos <= n:
        ch = line[pos] if pos < n else ""
        if not in_word and not in_quote:
            if pos == n:
                break
            if is_space(ch):
                pos += 1
                continue
            if ch != "-" or pos + 1 == n or line[pos + 1] != "-":
                return line[pos:], words
            in_word = True
        if pos == n:
            current = "".join(word)
            if current != "--" and (blank_ok or current):
                words.append(current)
            break
        if not in_quote:
            if is_space(ch):
                in_word = False
                current = "".join(word)
                if current == "--":
                    return line[pos:], words
                if blank_ok or current:
                    words.append(current)
                word = []
                blank_ok = False
                pos += 1
                continue
            if ch in "'\"":
                quote = ch
                blank_ok = True
                in_quote = True
                pos += 1
                continue
            if ch == "\\":
                if pos + 1 == n:
                    pos += 1
                    continue
                pos += 1
                ch = line[pos]
            word.append(ch)
            pos += 1
            continue
        if ch == quote:
            in_quote = False
            pos += 1
            continue
        if ch == "\\":
            if pos + 1 == n:
                in_quote = False
                pos += 1
                continue
            pos += 1
            ch = line[pos]
        word.append(ch)
        pos += 1
    return "", words


def _heredoc_specs(args: str) -> list[tuple[str, bool, bool]]:
    """The heredocs `args` opens: (delimiter, expand, chomp) for each, in order.

    As BuildKit: the line is split into words keeping quotes and escapes; a word
    `[n]<<[-]WORD` (blanks allowed after <<) is a heredoc; its delimiter is WORD without
    quotes, and a quote anywhere in WORD turns expansion off.
    """
    raw = _Options(raw_quotes=True, raw_escapes=True, skip_unset=True, collect=True)
    words = _lex_words(_join_heredoc_blanks(args), raw)
    specs: list[tuple[str, bool, bool]] = []
    for word in words or []:
        m = _HEREDOC_RE.match(word)
        if not m or not m.group(3):
            continue
        rest = m.group(3)
        plain = _lex_words(rest, _Options(skip_unset=True, collect=True))
        quoted = _lex_words(rest, _Options(raw_quotes=True, skip_unset=True, collect=True))
        if plain is None or quoted is None or len(plain) != 1 or len(quoted) != 1:
            continue
        name = plain[0]
        quotes = sum(plain[0].count(q) for q in "'\"")
        raw_quotes = sum(quoted[0].count(q) for q in "'\"")
        specs.append((name, quotes == raw_quotes, m.group(2) == "-"))
    return specs


def _join_heredoc_blanks(args: str) -> str:
    # BuildKit's lexer keeps `<<  EOF` one word: the blanks become NULs, which do not
    # split words and which _HEREDOC_RE skips like the blanks.
    return _HEREDOC_BLANKS_RE.sub(lambda m: m.group(1) + "\x00" * len(m.group(2)), args)


def _lex_words(text: str, options: _Options) -> list[str] | None:
    try:
        return _Lexer(text, _unset, options).process()[1]
    except _SyntaxError:
        return None


def parse(text: str, *, filename: str = "Dockerfile") -> Dockerfile:
    """Parse a Dockerfile's text; DockerfileError ("FILE:LINE: ...") when Docker would
    refuse it."""
    return _Parser(text, filename).parse()
