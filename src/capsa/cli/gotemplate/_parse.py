"""Tokens to a tree (Go's text/template/parse, for the actions capsa executes): text,
output actions, `if`/`else if`/`else`, `range` (with `$i, $v :=`), `with`, `break`,
`continue`, variables, pipelines of commands, parenthesised pipelines and field chains."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import NoReturn

from capsa.cli.gotemplate._funcs import FUNCTIONS
from capsa.cli.gotemplate._lex import Kind, Token, tokenize, where
from capsa.cli.gotemplate.errors import TemplateError


@dataclass(frozen=True)
class Text:
    text: str


@dataclass(frozen=True)
class Field:
    """`.A.B` on dot (names empty: `.` itself)."""

    names: tuple[str, ...]
    position: int


@dataclass(frozen=True)
class Variable:
    """`$x.A.B`."""

    name: str
    names: tuple[str, ...]
    position: int


@dataclass(frozen=True)
class Literal:
    value: object
    position: int


@dataclass(frozen=True)
class Function:
    name: str
    position: int


@dataclass(frozen=True)
class Chain:
    """`(pipeline).A.B`."""

    pipe: Pipeline
    names: tuple[str, ...]
    position: int


Operand = Field | Variable | Literal | Function | Chain


@dataclass(frozen=True)
class Command:
    args: tuple[Operand, ...]
    position: int


@dataclass(frozen=True)
class Pipeline:
    commands: tuple[Command, ...]
    declare: tuple[str, ...] = ()  # variables set by `:=` (or `=` when `assign`)
    assign: bool = False
    position: int = 0


@dataclass(frozen=True)
class Action:
    pipe: Pipeline


@dataclass(frozen=True)
class Branch:
    """`if`, `range` or `with`: `body` when the pipeline's value is true (for range: for
    each element), else `otherwise`."""

    keyword: str
    pipe: Pipeline
    body: tuple[Node, ...]
    otherwise: tuple[Node, ...] = field(default=())


@dataclass(frozen=True)
class LoopControl:
    keyword: str  # break or continue
    position: int


Node = Text | Action | Branch | LoopControl

# Functions a template may call; checked while parsing, as Go does.
FUNCTION_NAMES = frozenset(FUNCTIONS)


def parse(text: str) -> tuple[Node, ...]:
    parser = _Parser(text, tokenize(text))
    nodes, stop = parser.nodes(loop_depth=0)
    if stop is not None:
        raise TemplateError(f"unexpected {{{{{stop.value}}}}} at {where(text, stop.position)}")
    return nodes


class _Parser:
    def __init__(self, text: str, tokens: list[Token]) -> None:
        self.text = text
        self.tokens = tokens
        self.at = 0

    # tokens

    def peek(self, offset: int = 0) -> Token:
        return self.tokens[min(self.at + offset, len(self.tokens) - 1)]

    def next(self) -> Token:
        token = self.peek()
        self.at += 1
        return token

    def expect(self, kind: Kind, context: str) -> Token:
        token = self.next()
        if token.kind is not kind:
            self.unexpected(token, context)
        return token

    def unexpected(self, token: Token, context: str) -> NoReturn:
        shown = "end of template" if token.kind is Kind.EOF else repr(token.value)
        if token.kind is Kind.RIGHT:
            shown = '"}}"'
        raise TemplateError(f"unexpected {shown} {context} at {where(self.text, token.position)}")

    # lists and control structures

    def nodes(self, loop_depth: int) -> tuple[tuple[Node, ...], Token | None]:
        """Nodes up to the end of the template, or up to an `{{else` / `{{end` (returned,
        with the parser just after the keyword)."""
        out: list[Node] = []
        while True:
            token = self.next()
            if token.kind is Kind.EOF:
                return tuple(out), None
            if token.kind is Kind.TEXT:
                out.append(Text(token.value))
                continue
            # token is {{
            head = self.peek()
            if head.kind is Kind.KEYWORD:
                if head.value in ("else", "end"):
                    self.next()
                    return tuple(out), head
                out.append(self.control(self.next(), loop_depth))
                continue
            pipe = self.pipeline("in command", allow_declare=True)
            if not pipe.commands:
                raise TemplateError(
                    f"missing value for command at {where(self.text, token.position)}"
                )
            self.expect(Kind.RIGHT, "in command")
            out.append(Action(pipe))

    def control(self, keyword: Token, loop_depth: int) -> Node:
        name = keyword.value
        if name in ("break", "continue"):
            if loop_depth == 0:
                raise TemplateError(
                    f"{{{{{name}}}}} outside {{{{range}}}} at {where(self.text, keyword.position)}"
                )
            self.expect(Kind.RIGHT, f"in {{{{{name}}}}}")
            return LoopControl(name, keyword.position)
        if name in ("define", "template", "block"):
            raise TemplateError(
                f"{{{{{name}}}}} is not supported in --format templates at "
                f"{where(self.text, keyword.position)}"
            )
        return self.branch(name, keyword, loop_depth)

    def branch(self, name: str, keyword: Token, loop_depth: int) -> Branch:
        pipe = self.pipeline(f"in {{{{{name}}}}}", allow_declare=True, ranging=name == "range")
        if not pipe.commands:
            raise TemplateError(f"missing value for {name} at {where(self.text, keyword.position)}")
        self.expect(Kind.RIGHT, f"in {{{{{name}}}}}")
        inner_depth = loop_depth + 1 if name == "range" else loop_depth
        body, stop = self.nodes(inner_depth)
        if stop is None:
            raise TemplateError(
                f"unexpected end of template: {{{{{name}}}}} at "
                f"{where(self.text, keyword.position)} has no {{{{end}}}}"
            )
        otherwise: tuple[Node, ...] = ()
        if stop.value == "else":
            follow = self.peek()
            if follow.kind is Kind.KEYWORD and follow.value in ("if", "with") and name != "range":
                # `{{else if x}}` is an `if` inside the else, sharing this `{{end}}`.
                self.next()
                otherwise = (self.branch(follow.value, follow, loop_depth),)
            else:
                self.expect(Kind.RIGHT, "in {{else}}")
                otherwise, stop = self.nodes(loop_depth)
                if stop is None or stop.value != "end":
                    raise TemplateError(
                        f"expected {{{{end}}}} for the {{{{{name}}}}} at "
                        f"{where(self.text, keyword.position)}"
                    )
                self.expect(Kind.RIGHT, "in {{end}}")
        else:
            self.expect(Kind.RIGHT, "in {{end}}")
        return Branch(name, pipe, body, otherwise)

    # pipelines

    def pipeline(self, context: str, *, allow_declare: bool, ranging: bool = False) -> Pipeline:
        start = self.peek().position
        declare: tuple[str, ...] = ()
        assign = False
        if allow_declare and self.peek().kind is Kind.VARIABLE:
            names = [self.peek().value]
            offset = 1
            if ranging and self.peek(1).kind is Kind.COMMA and self.peek(2).kind is Kind.VARIABLE:
                names.append(self.peek(2).value)
                offset = 3
            operator = self.peek(offset)
            if operator.kind in (Kind.DECLARE, Kind.ASSIGN):
                self.at += offset + 1
                declare, assign = tuple(names), operator.kind is Kind.ASSIGN
        commands: list[Command] = []
        while True:
            token = self.peek()
            if token.kind in (Kind.RIGHT, Kind.RPAREN):
                if commands:
                    self.unexpected(token, f"{context}: missing command after '|'")
                break
            commands.append(self.command(context))
            if self.peek().kind is Kind.PIPE:
                self.next()
                continue
            break
        if declare and not commands:
            raise TemplateError(f"missing value for declaration at {where(self.text, start)}")
        return Pipeline(tuple(commands), declare, assign, start)

    def command(self, context: str) -> Command:
        start = self.peek().position
        args: list[Operand] = []
        while self.peek().kind not in (Kind.RIGHT, Kind.RPAREN, Kind.PIPE, Kind.EOF):
            token = self.peek()
            if args and not token.spaced and token.kind is not Kind.LPAREN:
                self.unexpected(token, f"{context}: missing space?")
            args.append(self.operand(context))
        if not args:
            self.unexpected(self.peek(), f"{context}: empty command")
        return Command(tuple(args), start)

    def fields(self) -> tuple[str, ...]:
        names: list[str] = []
        while self.peek().kind is Kind.FIELD and not self.peek().spaced:
            names.append(self.next().value)
        return tuple(names)

    def operand(self, context: str) -> Operand:
        token = self.next()
        kind = token.kind
        if kind is Kind.FIELD:
            return Field((token.value, *self.fields()), token.position)
        if kind is Kind.DOT:
            if self.peek().kind is Kind.FIELD and not self.peek().spaced:
                self.unexpected(self.peek(), context)
            return Field((), token.position)
        if kind is Kind.VARIABLE:
            return Variable(token.value, self.fields(), token.position)
        if kind is Kind.LPAREN:
            pipe = self.pipeline(context, allow_declare=False)
            self.expect(Kind.RPAREN, f"{context}: unclosed left paren")
            return Chain(pipe, self.fields(), token.position)
        if kind is Kind.IDENTIFIER:
            if token.value not in FUNCTION_NAMES:
                raise TemplateError(
                    f'function "{token.value}" not defined at {where(self.text, token.position)}'
                )
            return Function(token.value, token.position)
        if kind is Kind.STRING:
            return Literal(token.value, token.position)
        if kind is Kind.CHAR:
            return Literal(ord(token.value), token.position)
        if kind is Kind.BOOL:
            return Literal(token.value == "true", token.position)
        if kind is Kind.NIL:
            return Literal(None, token.position)
        if kind is Kind.NUMBER:
            return Literal(_number(token, self.text), token.position)
        self.unexpected(token, context)


def _number(token: Token, text: str) -> int | float:
    value = token.value.replace("_", "")
    try:
        return int(value, 0)
    except ValueError:
        pass
    try:
        return float(value)
    except ValueError:
        raise TemplateError(
            f"bad number syntax {token.value!r} at {where(text, token.position)}"
        ) from None
