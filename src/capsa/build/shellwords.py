"""Variable substitution in Dockerfile words, with BuildKit's rules (shell/lex.go).

Not a shell: only quotes, the escape character and `$` references are processed. The
forms are `$VAR`, `${VAR}`, `${VAR:-w}`, `${VAR-w}`, `${VAR:+w}`, `${VAR+w}`,
`${VAR:?msg}`, `${VAR?msg}`, `${VAR#pat}`, `${VAR##pat}`, `${VAR%pat}`, `${VAR%%pat}`,
`${VAR/pat/repl}` and `${VAR//pat/repl}`; the word inside `${...}` is itself expanded.
A `$` not followed by a name stays literal; single quotes keep everything literal; in
double quotes the escape character escapes only `"`, `$` and itself.

`expand` is BuildKit's ProcessWord, `expand_words` its ProcessWords (words split on
unquoted whitespace after expansion), `key_values` and `arg_definitions` the argument
forms of ENV/LABEL and ARG.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from capsa.errors import InvalidArgument

Lookup = Callable[[str], "str | None"]  # None: the variable is unset

_SPECIAL_PARAMS = frozenset("@*#?-$!0")
# The whitespace that Go's unicode.IsSpace knows: str.isspace() minus the ASCII
# separators U+001C..U+001F, which Go does not count.
_NOT_GO_SPACE = frozenset("\x1c\x1d\x1e\x1f")
_WHITESPACE_RE = re.compile(r"[\t\v\f\r ]+")


def is_space(ch: str) -> bool:
    """Go's unicode.IsSpace for one character (what Docker splits words on)."""
    return ch.isspace() and ch not in _NOT_GO_SPACE


def _unset(_name: str) -> str | None:
    return None


class _SyntaxError(Exception):
    """A malformed word; turned into InvalidArgument naming the whole text."""


class _Required(Exception):
    """`${VAR?msg}` on an unset (or `:?` on an empty) variable."""


@dataclass
class _Options:
    escape: str = "\\"
    raw_quotes: bool = False  # keep quote characters in the result
    raw_escapes: bool = False  # keep escape characters in the result
    skip_unset: bool = False  # leave references to unset variables as written
    process_quotes: bool = True  # False: quotes are ordinary characters (heredoc bodies)
    collect: bool = False  # only record names: `?` never fails


class _Words:
    """Splits the result into words as it is built (BuildKit's wordsStruct)."""

    def __init__(self) -> None:
        self.word = ""
        self.words: list[str] = []
        self.in_word = False

    def add_char(self, ch: str) -> None:
        if is_space(ch):
            if self.in_word and self.word:
                self.words.append(self.word)
                self.word = ""
                self.in_word = False
        else:
            self.add_raw_char(ch)

    def add_raw_char(self, ch: str) -> None:
        self.word += ch
        self.in_word = True

    def add_string(self, text: str) -> None:
        for ch in text:
            self.add_char(ch)

    def add_raw_string(self, text: str) -> None:
        self.word += text
        self.in_word = True

    def finish(self) -> list[str]:
        if self.word:
            self.words.append(self.word)
            self.word = ""
            self.in_word = False
        return self.words


class _Lexer:
    def __init__(self, text: str, lookup: Lookup, options: _Options) -> None:
        self.text = text
        self.pos = 0
        self.lookup = lookup
        self.opt = options
        self.raw_escapes = options.raw_escapes
        self.names: list[str] = []

    # -- scanner ------------------------------------------------------------------
    def peek(self) -> str:
        return self.text[self.pos] if self.pos < len(self.text) else ""

    def next(self) -> str:
        if self.pos >= len(self.text):
            return ""
        ch = self.text[self.pos]
        self.pos += 1
        return ch

    # -- words ------------------------------------------------------------------
    def process(self) -> tuple[str, list[str]]:
        return self.stop_on("", self.raw_escapes)

    def stop_on(self, stop: str, raw_escapes: bool) -> tuple[str, list[str]]:
        """Process up to `stop` (consumed) or the end when stop is ""."""
        saved = self.raw_escapes
        self.raw_escapes = raw_escapes
        try:
            return self._stop_on(stop)
        finally:
            self.raw_escapes = saved

    def _stop_on(self, stop: str) -> tuple[str, list[str]]:
        result: list[str] = []
        words = _Words()
        escape = self.opt.escape
        while self.pos < len(self.text):
            ch = self.peek()
            if stop and ch == stop:
                self.next()
                return "".join(result), words.finish()
            if ch == "$":
                value = self.dollar()
                result.append(value)
                words.add_string(value)
            elif ch in "'\"" and self.opt.process_quotes:
                value = self.single_quote() if ch == "'" else self.double_quote()
                result.append(value)
                words.add_raw_string(value)
            else:
                ch = self.next()
                if ch == escape:
                    if self.raw_escapes:
                        words.add_raw_char(ch)
                        result.append(ch)
                    ch = self.next()
                    if not ch:  # a trailing escape character is dropped
                        break
                    words.add_raw_char(ch)
                else:
                    words.add_char(ch)
                result.append(ch)
        if stop:
            raise _SyntaxError(f"unexpected end of statement while looking for matching {stop}")
        return "".join(result), words.finish()

    def single_quote(self) -> str:
        # Everything up to the next ' is literal; a ' cannot be escaped inside.
        out: list[str] = []
        quote = self.next()
        if self.opt.raw_quotes:
            out.append(quote)
        while True:
            ch = self.next()
            if not ch:
                raise _SyntaxError(
                    "unexpected end of statement while looking for matching single-quote"
                )
            if ch == "'":
                if self.opt.raw_quotes:
                    out.append(ch)
                return "".join(out)
            out.append(ch)

    def double_quote(self) -> str:
        out: list[str] = []
        quote = self.next()
        if self.opt.raw_quotes:
            out.append(quote)
        escape = self.opt.escape
        while True:
            ch = self.peek()
            if not ch:
                raise _SyntaxError(
                    "unexpected end of statement while looking for matching double-quote"
                )
            if ch == '"':
                self.next()
                if self.opt.raw_quotes:
                    out.append(ch)
                return "".join(out)
            if ch == "$":
                out.append(self.dollar())
                continue
            ch = self.next()
            if ch == escape:
                following = self.peek()
                if not following:  # an escape character at the very end is dropped
                    if self.raw_escapes:
                        out.append(ch)
                    continue
                if following in ('"', "$", escape):
                    if self.raw_escapes:
                        out.append(ch)
                    ch = self.next()
                # before any other character the escape character is kept as written
            out.append(ch)

    # -- references -------------------------------------------------------------
    def name(self) -> str:
        out: list[str] = []
        while True:
            ch = self.peek()
            if not ch:
                break
            if not out and ch.isdecimal():
                while self.peek() and self.peek().isdecimal():
                    out.append(self.next())
                return "".join(out)
            if not out and ch in _SPECIAL_PARAMS:
                return self.next()
            if not (ch.isalpha() or ch.isdecimal() or ch == "_"):
                break
            out.append(self.next())
        return "".join(out)

    def get(self, name: str) -> str | None:
        self.names.append(name)
        return self.lookup(name)

    def dollar(self) -> str:
        self.next()  # the $
        if self.peek() != "{":
            name = self.name()
            if not name:
                return "$"
            value = self.get(name)
            if value is None:
                return "$" + name if self.opt.skip_unset else ""
            return value

        self.next()  # the {
        ch = self.peek()
        if not ch:
            raise _SyntaxError("missing '}'")
        if ch in "{}:":
            raise _SyntaxError("bad substitution")
        name = self.name()
        ch = self.next()
        if not ch:
            raise _SyntaxError("missing '}'")
        if ch == "}":
            value = self.get(name)
            if value is None:
                return "${" + name + "}" if self.opt.skip_unset else ""
            return value
        if ch == "/":
            return self.replace(name)

        modifier = ch
        null_is_unset = False
        if ch == ":":
            null_is_unset = True
            ch = self.next()
            modifier += ch
        if not ch:
            raise _SyntaxError("missing '}'")
        if ch not in "+-?#%":  # e.g. ${VAR=x}, ${VAR:0:2}
            raise _SyntaxError(f"unsupported modifier ({modifier}) in substitution")
        try:
            word, _ = self.stop_on("}", ch in "#%")
        except _SyntaxError:
            if not self.peek():
                raise _SyntaxError("missing '}'") from None
            raise
        value = self.get(name)
        if value is None and self.opt.skip_unset:
            return "${" + name + modifier + word + "}"
        empty = value is None or (null_is_unset and value == "")
        if ch == "-":
            return word if empty or value is None else value
        if ch == "+":
            return "" if empty else word
        if ch == "?":
            if self.opt.collect:
                return value or ""
            if value is None:
                raise _Required(f"{name}: {word or 'is not allowed to be unset'}")
            if null_is_unset and value == "":
                raise _Required(f"{name}: {word or 'is not allowed to be empty'}")
            return value
        # # and %: the shortest match; ## and %% the longest
        greedy = word.startswith(ch)
        if greedy:
            word = word[1:]
        if ch == "%":
            return _trim_suffix(word, value or "", greedy)
        return _trim_prefix(word, value or "", greedy)

    def replace(self, name: str) -> str:
        replace_all = self.peek() == "/"
        if replace_all:
            self.next()
        try:
            pattern, _ = self.stop_on("/", True)
        except _SyntaxError:
            if not self.peek():
                raise _SyntaxError("missing '/' in ${}") from None
            raise
        try:
            replacement, _ = self.stop_on("}", True)
        except _SyntaxError:
            if not self.peek():
                raise _SyntaxError("missing '}'") from None
            raise
        value = self.get(name)
        if value is None and self.opt.skip_unset:
            slashes = "//" if replace_all else "/"
            return "${" + name + slashes + pattern + "/" + replacement + "}"
        regex = _pattern_regex(pattern, greedy=True, anchored=False)
        # The replacement is literal text (re.sub would read backslashes in it).
        return regex.sub(lambda _m: replacement, value or "", count=0 if replace_all else 1)


def _pattern_regex(pattern: str, *, greedy: bool, anchored: bool) -> re.Pattern[str]:
    """A shell pattern (`*`, `?`, `\\` escapes; no bracket expressions) as a regex."""
    out = ["^"] if anchored else []
    star = ".*" if greedy else ".*?"
    i = 0
    while i < len(pattern):
        ch = pattern[i]
        i += 1
        if ch == "*":
            out.append(star)
        elif ch == "?":
            out.append(".")
        elif ch == "\\":
            following = pattern[i] if i < len(pattern) else ""
            if following in ("}", "/"):
                continue  # escaped only so that it does not end the ${}
            if following not in ("*", "?", "\\"):
                raise _SyntaxError(f"invalid pattern ({pattern}) in substitution")
            out.append("\\" + following)
            i += 1
        else:
            out.append(re.escape(ch))
    try:
        return re.compile("".join(out))
    except re.error as e:  # pragma: no cover - every piece above is escaped
        raise _SyntaxError(f"invalid pattern ({pattern}) in substitution: {e}") from None


def _trim_prefix(pattern: str, value: str, greedy: bool) -> str:
    match = _pattern_regex(pattern, greedy=greedy, anchored=True).match(value)
    return value[match.end() :] if match else value


def _reverse_pattern(pattern: str) -> str:
    """Reverse a pattern, keeping each escape before the character it escapes."""
    tokens: list[str] = []
    i = 0
    while i < len(pattern):
        if pattern[i] == "\\" and i + 1 < len(pattern):
            tokens.append(pattern[i : i + 2])
            i += 2
        else:
            tokens.append(pattern[i])
            i += 1
    return "".join(reversed(tokens))


def _trim_suffix(pattern: str, value: str, greedy: bool) -> str:
    # A regex finds the leftmost match only: reverse both to find the rightmost.
    return _trim_prefix(_reverse_pattern(pattern), value[::-1], greedy)[::-1]


def _run(text: str, lookup: Lookup, options: _Options) -> tuple[str, list[str], list[str]]:
    lexer = _Lexer(text, lookup, options)
    try:
        result, words = lexer.process()
    except _SyntaxError as e:
        raise InvalidArgument(
            f"cannot expand {text!r}: {e}",
            hint="check the quotes and the ${...} references in this line",
        ) from None
    except _Required as e:
        raise InvalidArgument(str(e), hint="set this variable (ARG, ENV or --build-arg)") from None
    return result, words, lexer.names


def expand(text: str, lookup: Lookup, *, escape: str = "\\") -> str:
    """One word: quotes removed ('...' literal, "..." expanded), escapes applied."""
    return _run(text, lookup, _Options(escape=escape))[0]


def expand_words(text: str, lookup: Lookup, *, escape: str = "\\") -> list[str]:
    """Words split on unquoted whitespace after expansion (BuildKit's ProcessWords).

    As in BuildKit, an expansion's whitespace splits words and an empty quoted string
    yields no word.
    """
    return _run(text, lookup, _Options(escape=escape))[1]


def expand_heredoc(text: str, lookup: Lookup, *, escape: str = "\\") -> str:
    """A heredoc body with an unquoted delimiter: `$` references expanded, nothing else.

    Quotes and escape characters belong to the script and are kept (BuildKit's
    ExpandRaw); an escaped `\\$` stays as written.
    """
    options = _Options(escape=escape, raw_escapes=True, process_quotes=False)
    return _run(text, lookup, options)[0]


def referenced_names(text: str, *, escape: str = "\\") -> set[str]:
    """The variable names `text` refers to, in any position (defaults included).

    Special parameters ($@, $1...) are left out: no ARG or ENV can define them.
    """
    names = _run(text, _unset, _Options(escape=escape, collect=True))[2]
    return {n for n in names if n and (n[0].isalpha() or n[0] == "_")}


# -- argument forms of ENV, LABEL and ARG ------------------------------------------


def split_raw_words(text: str, escape: str = "\\") -> list[str]:
    """Split on unquoted whitespace, keeping quotes and escapes (BuildKit's parseWords)."""
    words: list[str] = []
    buf: list[str] = []
    in_word = in_quote = False
    quote = ""
    blank_ok = False
    i, n = 0, len(text)
    while True:
        if not in_word and not in_quote:
            if i == n:
                break
            if is_space(text[i]):
                i += 1
                continue
            in_word = True
        if i == n:
            if blank_ok or buf:
                words.append("".join(buf))
            break
        ch = text[i]
        if in_word and not in_quote:
            if is_space(ch):
                in_word = False
                if blank_ok or buf:
                    words.append("".join(buf))
                buf = []
                blank_ok = False
                i += 1
                continue
            if ch in "'\"":
                quote = ch
                blank_ok = True
                in_quote = True
            if ch == escape:
                if i + 1 == n:
                    i += 1  # an escape character at the end is dropped
                    continue
                buf.append(ch)
                i += 1
                ch = text[i]
            buf.append(ch)
            i += 1
            continue
        # inside quotes
        if ch == quote:
            in_quote = False
        if ch == escape and quote != "'":
            if i + 1 == n:
                in_quote = False
                i += 1
                continue
            buf.append(ch)
            i += 1
            ch = text[i]
        buf.append(ch)
        i += 1
    return words


def _no_expansion_options(escape: str) -> _Options:
    return _Options(escape=escape, skip_unset=True, collect=True)


def _expand_part(text: str, lookup: Lookup | None, escape: str) -> str:
    if lookup is None:
        return _run(text, _unset, _no_expansion_options(escape))[0]
    return expand(text, lookup, escape=escape)


def key_values(
    text: str, lookup: Lookup | None, *, escape: str = "\\", keyword: str = "ENV"
) -> list[tuple[str, str]]:
    """The pairs of `ENV`/`LABEL` arguments: `K=V K2="v 2"` or the legacy `K some value`.

    Keys and values are expanded with `lookup` (the environment before this
    instruction, as Docker does: `ENV a=1 b=$a` sees the old `a`). With lookup None,
    quotes are removed and `$` references left as written.
    """
    words = split_raw_words(text, escape)
    if not words:
        raise InvalidArgument(f"{keyword} requires at least one argument")
    raw_pairs: list[tuple[str, str]] = []
    if "=" not in words[0]:
        parts = _WHITESPACE_RE.split(text.strip(), maxsplit=1)
        if len(parts) < 2:
            raise InvalidArgument(
                f"{keyword} must have two arguments", hint=f"write {keyword} name=value"
            )
        raw_pairs.append((parts[0], parts[1]))
    else:
        for word in words:
            if "=" not in word:
                raise InvalidArgument(
                    f"{keyword}: can't find = in {word!r}", hint="write name=value"
                )
            key, _, value = word.partition("=")
            raw_pairs.append((key, value))
    pairs: list[tuple[str, str]] = []
    for key, value in raw_pairs:
        if not key:
            raise InvalidArgument(f"{keyword} names can not be blank")
        pairs.append((_expand_part(key, lookup, escape), _expand_part(value, lookup, escape)))
    return pairs


def arg_definitions(
    text: str, lookup: Lookup | None, *, escape: str = "\\"
) -> list[tuple[str, str | None]]:
    """ARG's definitions: `NAME` (no default: None) or `NAME=default`, several a line."""
    words = split_raw_words(text, escape)
    if not words:
        raise InvalidArgument("ARG requires at least one argument")
    out: list[tuple[str, str | None]] = []
    for word in words:
        if "=" in word:
            key, _, value = word.partition("=")
            if not key:
                raise InvalidArgument("ARG names can not be blank")
            out.append((_expand_part(key, lookup, escape), _expand_part(value, lookup, escape)))
        else:
            out.append((_expand_part(word, lookup, escape), None))
    return out
