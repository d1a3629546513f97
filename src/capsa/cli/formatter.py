"""`--format` as Docker's CLI takes it (docker/cli's formatter.Context), for every command
that prints rows or documents:

- "" or "table": the command's own table;
- "json": one JSON document a line;
- "table TEMPLATE": a header row made from the fields the template names ("IMAGE ID" for
  `.ID`), then a row per item, columns aligned as Go's tabwriter does (min width 10,
  padding 3);
- any other TEMPLATE: the template per item, each followed by a newline, nothing aligned.

Literal `\\t` and `\\n` typed in a shell are tabs and newlines, as in Docker.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence

from capsa.cli.gotemplate import Dynamic, Template, to_json

TABLE = "table"
JSON = "json"
_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")


def default_header(field: str) -> str:
    """`CreatedSince` -> `CREATED SINCE` for a field a command gave no header for."""
    return _CAMEL.sub(" ", field).upper()


class _Header(str, Dynamic):
    """A header cell; its own fields are headers too, so `{{.A.B}}` has one."""

    headers: Mapping[str, str]

    def __new__(cls, text: str, headers: Mapping[str, str]) -> _Header:
        cell = super().__new__(cls, text)
        cell.headers = headers
        return cell

    def template_field(self, name: str) -> object:
        return _Header(self.headers.get(name) or default_header(name), self.headers)


def _prepare(text: str) -> str:
    return text.strip(" ").replace("\\t", "\t").replace("\\n", "\n")


def is_table(text: str | None) -> bool:
    return text is None or text.startswith(TABLE)


def render(
    format_text: str | None,
    rows: Iterable[object],
    *,
    default: str,
    headers: Mapping[str, str] | None = None,
) -> str:
    """The rows printed as `format_text` asks (None: the command's `default` table)."""
    text = format_text if format_text not in (None, "", TABLE) else default
    assert text is not None
    if text == JSON:
        return "".join(to_json(row) + "\n" for row in rows)
    table = text.startswith(TABLE)
    template = Template.parse(_prepare(text[len(TABLE) :] if table else text))
    body = "".join(template.execute(row) + "\n" for row in rows)
    if not table:
        return body
    header = template.execute(_Header("", headers or {}))
    return tabwrite(header + "\n" + body)


def render_documents(format_text: str | None, documents: Sequence[object]) -> str:
    """`inspect`: an indented JSON array, or the template once per document."""
    if not format_text or format_text == JSON:
        import json

        return json.dumps(list(documents), indent=4, ensure_ascii=False) + "\n"
    template = Template.parse(_prepare(format_text))
    return "".join(template.execute(document) + "\n" for document in documents)


def tabwrite(text: str, *, minwidth: int = 10, padding: int = 3) -> str:
    """Go's text/tabwriter (flags 0): a cell is text ended by a tab; a column block is a
    run of lines that have a cell in that column, as wide as its widest cell plus padding
    (at least `minwidth`); the text after a line's last tab is not aligned."""
    lines = [line.split("\t") for line in text.split("\n")]
    out: list[str] = []
    widths: list[int] = []

    def write(start: int, end: int) -> None:
        for cells in lines[start:end]:
            parts = []
            for j, cell in enumerate(cells):
                if j < len(cells) - 1 and j < len(widths):
                    parts.append(cell.ljust(widths[j]))
                else:
                    parts.append(cell)
            out.append("".join(parts))

    def block(start: int, end: int) -> None:
        column = len(widths)
        line = start
        while line < end:
            if column >= len(lines[line]) - 1:
                line += 1
                continue
            write(start, line)
            start = line
            width = minwidth
            while line < end and column < len(lines[line]) - 1:
                width = max(width, len(lines[line][column]) + padding)
                line += 1
            widths.append(width)
            block(start, line)
            widths.pop()
            start = line
        write(start, end)

    block(0, len(lines))
    return "\n".join(out)
