from __future__ import annotations

import pytest

from capsa.cli._format import format_rows, render
from capsa.errors import InvalidArgument

ROWS = [{"ID": "abc", "Name": "front", "Labels": {"a": "b"}}, {"ID": "def", "Name": "x",
                                                              "Labels": {}}]


def test_templates() -> None:
    assert render("{{.Name}}", ROWS[0]) == "front"
    assert render("{{ .ID }}\\t{{.Name}}", ROWS[0]) == "abc\tfront"
    assert render("{{json .Labels}}", ROWS[0]) == '{"a": "b"}'
    assert render("{{json .}}", ROWS[1]) == '{"ID": "def", "Labels": {}, "Name": "x"}'
    with pytest.raises(InvalidArgument, match="can't evaluate field Nope"):
        render("{{.Nope}}", ROWS[0])
    with pytest.raises(InvalidArgument, match="unsupported template"):
        render("{{range .}}", ROWS[0])


def test_tables_and_json() -> None:
    headers = {"ID": "NETWORK ID", "Name": "NAME"}
    assert format_rows("table", ROWS, headers, ["ID", "Name"]).splitlines() == [
        "NETWORK ID   NAME", "abc          front", "def          x"]
    assert format_rows("table {{.Name}}", ROWS, headers, []).splitlines()[0] == "NAME"
    assert format_rows("{{.Name}}", ROWS, headers, []) == "front\nx\n"
    assert format_rows("json", ROWS[1:], headers, []) == (
        '{"ID": "def", "Labels": {}, "Name": "x"}\n')
