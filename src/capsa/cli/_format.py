"""Docker's `--format` for listings: `table`, `json`, and Go-template-like strings
(`{{.Name}}`, `table {{.ID}}\\t{{.Name}}`, `{{json .}}`, `{{json .Labels}}`)."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from typing import Any

from capsa.cli._images import table
from capsa.errors import InvalidArgument

_ACTION = re.compile(r"\{\{\s*(json\s+)?\.([A-Za-z0-9_]*)\s*\}\}")


def _value(item: Mapping[str, Any], key: str, as_json: bool) -> str:
    if key == "":
        value: Any = dict(item)
    elif key in item:
        value = item[key]
    else:
        raise InvalidArgument(
            f"template: can't evaluate field {key}",
            hint=f"fields: {', '.join(sorted(item))}",
        )
    if as_json:
        return json.dumps(value, sort_keys=True)
    if isinstance(value, (dict, list)):
        return json.dumps(value, sort_keys=True)
    return str(value)


def render(template: str, item: Mapping[str, Any]) -> str:
    text = template.replace("\\t", "\t").replace("\\n", "\n")
    if "{{" in _ACTION.sub("", text):
        raise InvalidArgument(
            f"unsupported template {template!r}", hint="use {{.Field}} or {{json .}}"
        )
    return _ACTION.sub(lambda m: _value(item, m.group(2), bool(m.group(1))), text)


def format_rows(
    template: str,
    items: Sequence[Mapping[str, Any]],
    headers: Mapping[str, str],
    default_columns: Sequence[str],
) -> str:
    """Print `items` as `template` asks: "table" (the default columns), "json" (one
    object a line), "table <template>" (a header then the rows), or a template."""
    if template == "json":
        return "".join(json.dumps(dict(i), sort_keys=True) + "\n" for i in items)
    if template in ("", "table"):
        template = "table " + "\t".join(f"{{{{.{c}}}}}" for c in default_columns)
    if template.startswith("table"):
        body = template[len("table"):].strip()
        keys = [m.group(2) for m in _ACTION.finditer(body)]
        header = [headers.get(k, k.upper()) for k in keys]
        rows = [header] + [render(body, i).split("\t") for i in items]
        return table(rows)
    return "".join(render(template, i) + "\n" for i in items)
