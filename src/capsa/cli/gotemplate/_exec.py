"""Running a parsed template on data (Go's text/template exec): dot, `$` and variables
with block scope, pipelines (the previous command's value is the last argument of the
next), field chains, `if`/`range`/`with` and their `else`, `break` and `continue`."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from capsa.cli.gotemplate._funcs import FUNCTIONS
from capsa.cli.gotemplate._lex import where
from capsa.cli.gotemplate._parse import (
    Action,
    Branch,
    Chain,
    Command,
    Field,
    Function,
    Literal,
    LoopControl,
    Node,
    Operand,
    Pipeline,
    Text,
    Variable,
)
from capsa.cli.gotemplate._values import Dynamic, Struct, go_str, truth, type_name
from capsa.cli.gotemplate.errors import TemplateError

_MISSING = object()


class _Break(Exception):
    pass


class _Continue(Exception):
    pass


def field_of(value: object, name: str) -> object:
    """`.name` of a value: a map key (missing: nil), a struct field (missing: an error)."""
    if isinstance(value, Dynamic):
        return value.template_field(name)
    if isinstance(value, Struct):
        if name not in value:
            raise TemplateError(f"can't evaluate field {name} in type {value.type_name}")
        return value[name]
    if isinstance(value, Mapping):
        return value.get(name)
    if value is None:
        return None
    raise TemplateError(f"can't evaluate field {name} in type {type_name(value)}")


class Executor:
    def __init__(self, source: str, data: object) -> None:
        self.source = source
        self.variables: list[tuple[str, object]] = [("$", data)]
        self.out: list[str] = []

    def run(self, nodes: Sequence[Node], dot: object) -> str:
        self.walk(nodes, dot)
        return "".join(self.out)

    def at(self, position: int, error: TemplateError) -> TemplateError:
        return TemplateError(f"{error.message} (at {where(self.source, position)})")

    # nodes

    def walk(self, nodes: Sequence[Node], dot: object) -> None:
        for node in nodes:
            if isinstance(node, Text):
                self.out.append(node.text)
            elif isinstance(node, Action):
                value = self.pipeline(node.pipe, dot)
                if not node.pipe.declare:
                    self.out.append(go_str(value))
            elif isinstance(node, Branch):
                self.branch(node, dot)
            elif isinstance(node, LoopControl):
                raise _Break() if node.keyword == "break" else _Continue()

    def scoped(self, nodes: Sequence[Node], dot: object) -> None:
        mark = len(self.variables)
        try:
            self.walk(nodes, dot)
        finally:
            del self.variables[mark:]

    def branch(self, node: Branch, dot: object) -> None:
        mark = len(self.variables)
        try:
            if node.keyword == "range":
                self.range(node, dot)
                return
            value = self.pipeline(node.pipe, dot)
            if truth(value):
                self.scoped(node.body, value if node.keyword == "with" else dot)
            else:
                self.scoped(node.otherwise, dot)
        finally:
            del self.variables[mark:]

    def range(self, node: Branch, dot: object) -> None:
        # the range variables are set per element below, not by the pipeline
        value = self.pipeline(Pipeline(node.pipe.commands, position=node.pipe.position), dot)
        items: list[tuple[object, object]]
        if value is None:
            items = []
        elif isinstance(value, Struct | Dynamic | str):
            raise self.at(
                node.pipe.position,
                TemplateError(f"range can't iterate over {go_str(value, top=False)}"),
            )
        elif isinstance(value, Mapping):
            items = [(key, value[key]) for key in sorted(value, key=str)]
        elif isinstance(value, Sequence):
            items = list(enumerate(value))
        elif isinstance(value, int) and not isinstance(value, bool):
            items = [(i, i) for i in range(value)]
        else:
            raise self.at(
                node.pipe.position,
                TemplateError(f"range can't iterate over {go_str(value, top=False)}"),
            )
        if not items:
            self.scoped(node.otherwise, dot)
            return
        names = node.pipe.declare
        for key, element in items:
            mark = len(self.variables)
            if len(names) == 1:
                self.variables.append((names[0], element))
            elif len(names) == 2:
                self.variables.extend([(names[0], key), (names[1], element)])
            try:
                self.walk(node.body, element)
            except _Continue:
                continue
            except _Break:
                break
            finally:
                del self.variables[mark:]

    # pipelines and commands

    def pipeline(self, pipe: Pipeline, dot: object) -> object:
        value: object = _MISSING
        for command in pipe.commands:
            value = self.command(command, dot, value)
        if value is _MISSING:
            value = None
        if pipe.declare:
            if pipe.assign:
                self.assign(pipe.declare[0], value, pipe.position)
            else:
                self.variables.append((pipe.declare[-1], value))
        return value

    def assign(self, name: str, value: object, position: int) -> None:
        for i in range(len(self.variables) - 1, -1, -1):
            if self.variables[i][0] == name:
                self.variables[i] = (name, value)
                return
        raise self.at(position, TemplateError(f"undefined variable: {name}"))

    def variable(self, name: str, position: int) -> object:
        for known, value in reversed(self.variables):
            if known == name:
                return value
        raise self.at(position, TemplateError(f'undefined variable "{name}"'))

    def command(self, command: Command, dot: object, final: object) -> object:
        first = command.args[0]
        if isinstance(first, Function):
            args = [self.operand(arg, dot) for arg in command.args[1:]]
            if final is not _MISSING:
                args.append(final)
            try:
                return FUNCTIONS[first.name](args)
            except TemplateError as exc:
                raise self.at(first.position, exc) from None
        if len(command.args) > 1 or final is not _MISSING:
            raise self.at(
                first.position,
                TemplateError(f"can't give argument to non-function {self.describe(first)}"),
            )
        return self.operand(first, dot)

    def operand(self, operand: Operand, dot: object) -> object:
        try:
            if isinstance(operand, Field):
                return self.chain(dot, operand.names)
            if isinstance(operand, Variable):
                return self.chain(self.variable(operand.name, operand.position), operand.names)
            if isinstance(operand, Literal):
                return operand.value
            if isinstance(operand, Chain):
                return self.chain(self.pipeline(operand.pipe, dot), operand.names)
        except TemplateError as exc:
            if "(at line" in exc.message:
                raise
            raise self.at(operand.position, exc) from None
        # a function as an argument is called with no arguments (`{{lower (print)}}`)
        return self.command(Command((operand,), operand.position), dot, _MISSING)

    @staticmethod
    def chain(value: object, names: Sequence[str]) -> object:
        for name in names:
            value = field_of(value, name)
        return value

    @staticmethod
    def describe(operand: Operand) -> str:
        if isinstance(operand, Field):
            return "." + ".".join(operand.names)
        if isinstance(operand, Variable):
            return operand.name + "".join("." + n for n in operand.names)
        if isinstance(operand, Literal):
            return go_str(operand.value, top=False)
        return "(pipeline)"
