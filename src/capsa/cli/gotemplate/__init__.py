"""Go templates as Docker users type them in `--format` (text/template plus Docker's
functions), for every command that prints: images, inspect, history, system df, and the
engine's ps, inspect and events.

    template = Template.parse("{{.ID}}\\t{{json .Labels}}")   # TemplateError if bad
    text = template.execute({"ID": "abc", "Labels": {}})      # TemplateError if it fails

Data is plain Python (see _values: dicts are Go maps, Struct a Go struct whose unknown
field is an error). Tables, headers and `\\t` escapes are capsa.cli.formatter's.
"""

from __future__ import annotations

from dataclasses import dataclass

from capsa.cli.gotemplate._exec import Executor
from capsa.cli.gotemplate._parse import Node, parse
from capsa.cli.gotemplate._values import Dynamic, Struct, to_json
from capsa.cli.gotemplate.errors import TemplateError

__all__ = ["Dynamic", "Struct", "Template", "TemplateError", "to_json"]


@dataclass(frozen=True)
class Template:
    source: str
    nodes: tuple[Node, ...]

    @classmethod
    def parse(cls, source: str) -> Template:
        try:
            return cls(source, parse(source))
        except RecursionError:
            raise TemplateError(f"invalid template {_shown(source)}: nested too deeply") from None
        except TemplateError as exc:
            raise TemplateError(
                f"invalid template {_shown(source)}: {exc.message}",
                hint="see the Go text/template syntax, e.g. '{{.ID}}' or '{{json .}}'",
            ) from None

    def execute(self, data: object) -> str:
        try:
            return Executor(self.source, data).run(self.nodes, data)
        except TemplateError as exc:
            raise TemplateError(
                f"cannot execute template {_shown(self.source)}: {exc.message}"
            ) from None
        except RecursionError:
            raise TemplateError(
                f"cannot execute template {_shown(self.source)}: nested too deeply"
            ) from None


def _shown(source: str) -> str:
    text = source if len(source) <= 60 else source[:57] + "..."
    return repr(text)
