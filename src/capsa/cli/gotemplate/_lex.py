"""Splitting a template into text and the tokens of its actions (Go's text/template/parse
lexer, for the subset capsa executes): `{{`/`}}` with the `{{- `/` -}}` trim markers,
comments, fields, variables, literals and punctuation."""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from capsa.cli.gotemplate.errors import TemplateError

LEFT, RIGHT = "{{", "}}"
_SPACE = " \t\r\n"
_KEYWORDS = frozenset(
    {"if", "else", "end", "range", "with", "break", "continue", "define", "template", "block"}
)


class Kind(Enum):
    TEXT = "text"
    LEFT = "{{"
    RIGHT = "}}"
    FIELD = "field"  # .Name (one segment; a chain is several FIELD tokens)
    DOT = "."
    VARIABLE = "variable"  # $ or $name
    IDENTIFIER = "identifier"  # a function name
    KEYWORD = "keyword"
    STRING = "string"  # the value, unquoted
    NUMBER = "number"
    CHAR = "char"
    BOOL = "bool"
    NIL = "nil"
    PIPE = "|"
    LPAREN = "("
    RPAREN = ")"
    DECLARE = ":="
    ASSIGN = "="
    COMMA = ","
    EOF = "eof"


@dataclass(frozen=True)
class Token:
    kind: Kind
    value: str
    position: int  # offset in the template, for messages
    spaced: bool = False  # whitespace came right before it (ends a field chain)


def where(text: str, position: int) -> str:
    """`line 1, column 7` of an offset."""
    line = text.count("\n", 0, position) + 1
    column = position - (text.rfind("\n", 0, position) + 1) + 1
    return f"line {line}, column {column}"


def tokenize(text: str) -> list[Token]:
    tokens: list[Token] = []
    position = 0
    while position < len(text):
        start = text.find(LEFT, position)
        if start < 0:
            tokens.append(Token(Kind.TEXT, text[position:], position))
            break
        inner = start + len(LEFT)
        trim_left = (
            text.startswith("-", inner) and inner + 1 < len(text) and (text[inner + 1] in _SPACE)
        )
        chunk = text[position:start]
        if trim_left:
            chunk = chunk.rstrip(_SPACE)
            inner += 2
        if chunk:
            tokens.append(Token(Kind.TEXT, chunk, position))
        position = _action(text, inner, start, tokens)
    tokens.append(Token(Kind.EOF, "", len(text)))
    return tokens


def _right_delimiter(text: str, at: int) -> tuple[int, bool] | None:
    """(offset after the delimiter, trims right) if an action ends at `at`."""
    if text.startswith(RIGHT, at):
        return at + len(RIGHT), False
    if at > 0 and text[at - 1] in _SPACE and text.startswith("-" + RIGHT, at):
        return at + 1 + len(RIGHT), True
    return None


def _after_action(text: str, end: int, trim: bool) -> int:
    if trim:
        while end < len(text) and text[end] in _SPACE:
            end += 1
    return end


def _action(text: str, at: int, start: int, tokens: list[Token]) -> int:
    """Lex one action from `at` (just inside `{{`); returns where the text resumes."""
    probe = at
    while probe < len(text) and text[probe] in _SPACE:
        probe += 1
    if text.startswith("/*", probe):
        close = text.find("*/", probe + 2)
        if close < 0:
            raise TemplateError(f"unclosed comment at {where(text, start)}")
        end = close + 2
        while end < len(text) and text[end] in _SPACE:
            end += 1
        closing = _right_delimiter(text, end)
        if closing is None:
            raise TemplateError(f"comment ends before closing delimiter at {where(text, start)}")
        return _after_action(text, closing[0], closing[1])
    tokens.append(Token(Kind.LEFT, LEFT, start))
    position = at
    spaced = False
    while True:
        if position >= len(text):
            raise TemplateError(f"unclosed action at {where(text, start)}")
        closing = _right_delimiter(text, position)
        if closing is not None:
            tokens.append(Token(Kind.RIGHT, RIGHT, position))
            return _after_action(text, closing[0], closing[1])
        char = text[position]
        if char in _SPACE:
            position += 1
            spaced = True
            continue
        token, position = _token(text, position, spaced)
        tokens.append(token)
        spaced = False


def _token(text: str, at: int, spaced: bool) -> tuple[Token, int]:
    char = text[at]
    simple = {"|": Kind.PIPE, "(": Kind.LPAREN, ")": Kind.RPAREN, ",": Kind.COMMA}
    if char in simple:
        return Token(simple[char], char, at, spaced), at + 1
    if text.startswith(":=", at):
        return Token(Kind.DECLARE, ":=", at, spaced), at + 2
    if char == "=":
        return Token(Kind.ASSIGN, "=", at, spaced), at + 1
    if char == '"':
        value, end = _quoted(text, at)
        return Token(Kind.STRING, value, at, spaced), end
    if char == "`":
        end = text.find("`", at + 1)
        if end < 0:
            raise TemplateError(f"unterminated raw quoted string at {where(text, at)}")
        return Token(Kind.STRING, text[at + 1 : end], at, spaced), end + 1
    if char == "'":
        value, end = _char(text, at)
        return Token(Kind.CHAR, value, at, spaced), end
    if char == "." and (at + 1 >= len(text) or not _is_name(text[at + 1])):
        if at + 1 < len(text) and text[at + 1].isdigit():
            return _number(text, at, spaced)
        return Token(Kind.DOT, ".", at, spaced), at + 1
    if char == ".":
        end = _name_end(text, at + 1)
        return Token(Kind.FIELD, text[at + 1 : end], at, spaced), end
    if char == "$":
        end = _name_end(text, at + 1)
        return Token(Kind.VARIABLE, text[at:end], at, spaced), end
    if char.isdigit() or (char in "+-" and at + 1 < len(text) and text[at + 1].isdigit()):
        return _number(text, at, spaced)
    if _is_name(char):
        end = _name_end(text, at)
        word = text[at:end]
        if word in ("true", "false"):
            return Token(Kind.BOOL, word, at, spaced), end
        if word == "nil":
            return Token(Kind.NIL, word, at, spaced), end
        if word in _KEYWORDS:
            return Token(Kind.KEYWORD, word, at, spaced), end
        return Token(Kind.IDENTIFIER, word, at, spaced), end
    raise TemplateError(f"unexpected {char!r} in action at {where(text, at)}")


def _is_name(char: str) -> bool:
    return char.isalnum() or char == "_"


def _name_end(text: str, at: int) -> int:
    while at < len(text) and _is_name(text[at]):
        at += 1
    return at


def _number(text: str, at: int, spaced: bool) -> tuple[Token, int]:
    end = at + 1
    while end < len(text) and (text[end].isalnum() or text[end] in "._+-"):
        if text[end] in "+-" and text[end - 1] not in "eEpP":
            break
        end += 1
    return Token(Kind.NUMBER, text[at:end], at, spaced), end


_ESCAPES = {
    "n": "\n",
    "t": "\t",
    "r": "\r",
    "\\": "\\",
    '"': '"',
    "'": "'",
    "a": "\a",
    "b": "\b",
    "f": "\f",
    "v": "\v",
    "0": "\0",
}


def _unescape(text: str, at: int, end_char: str) -> tuple[str, int]:
    """Read a Go-quoted literal from `at` (after the opening quote) to `end_char`."""
    out: list[str] = []
    position = at
    while True:
        if position >= len(text) or text[position] == "\n":
            raise TemplateError(f"unterminated quoted string at {where(text, at - 1)}")
        char = text[position]
        if char == end_char:
            return "".join(out), position + 1
        if char != "\\":
            out.append(char)
            position += 1
            continue
        code = text[position + 1 : position + 2]
        widths = {"x": 2, "u": 4, "U": 8}
        if code in widths:
            digits = text[position + 2 : position + 2 + widths[code]]
            try:
                out.append(chr(int(digits, 16)))
            except ValueError:
                raise TemplateError(f"bad escape \\{code} at {where(text, position)}") from None
            position += 2 + widths[code]
        elif code in _ESCAPES:
            out.append(_ESCAPES[code])
            position += 2
        else:
            raise TemplateError(f"unknown escape sequence \\{code} at {where(text, position)}")


def _quoted(text: str, at: int) -> tuple[str, int]:
    return _unescape(text, at + 1, '"')


def _char(text: str, at: int) -> tuple[str, int]:
    value, end = _unescape(text, at + 1, "'")
    if len(value) != 1:
        raise TemplateError(f"malformed character constant at {where(text, at)}")
    return value, end
