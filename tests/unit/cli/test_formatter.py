"""Docker's --format handling: table headers from field names, tabwriter alignment,
json lines, plain templates, and inspect's documents."""

from __future__ import annotations

import json

import pytest

from capsa.cli.formatter import default_header, render, render_documents, tabwrite
from capsa.cli.gotemplate import TemplateError

ROWS = [
    {"ID": "0123456789ab", "Repository": "busybox", "Tag": "latest", "Labels": {"a": "1"}},
    {"ID": "ba9876543210", "Repository": "example.com/some/long/name", "Tag": "v1", "Labels": {}},
]
HEADERS = {"ID": "IMAGE ID", "Repository": "REPOSITORY", "Tag": "TAG"}
DEFAULT = "table {{.Repository}}\t{{.Tag}}\t{{.ID}}"


def test_default_table_when_no_format() -> None:
    for given in (None, "", "table"):
        assert render(given, ROWS, default=DEFAULT, headers=HEADERS) == (
            "REPOSITORY                   TAG       IMAGE ID\n"
            "busybox                      latest    0123456789ab\n"
            "example.com/some/long/name   v1        ba9876543210\n"
        )


def test_table_prefix_with_escaped_tabs_as_typed_in_a_shell() -> None:
    out = render("table {{.ID}}\\t{{.Repository}}", ROWS, default=DEFAULT, headers=HEADERS)
    assert out.splitlines() == [
        "IMAGE ID       REPOSITORY",
        "0123456789ab   busybox",
        "ba9876543210   example.com/some/long/name",
    ]


def test_header_of_unknown_headers_and_functions() -> None:
    out = render(
        "table {{.CreatedSince}}\t{{lower .ID}}\t{{json .Labels}}",
        [],
        default=DEFAULT,
        headers=HEADERS,
    )
    assert out == 'CREATED SINCE   image id   "LABELS"\n'


def test_table_with_no_rows_prints_the_header() -> None:
    assert render(None, [], default=DEFAULT, headers=HEADERS) == "REPOSITORY   TAG       IMAGE ID\n"


def test_plain_template_is_not_aligned() -> None:
    out = render("{{.ID}}\\t{{.Tag}}", ROWS, default=DEFAULT, headers=HEADERS)
    assert out == "0123456789ab\tlatest\nba9876543210\tv1\n"


def test_json_lines() -> None:
    out = render("json", ROWS, default=DEFAULT)
    assert [json.loads(line) for line in out.splitlines()] == ROWS
    assert (
        render("{{json .}}", ROWS[:1], default=DEFAULT)
        == json.dumps(ROWS[0], separators=(",", ":")) + "\n"
    )


def test_nested_header() -> None:
    assert render("table {{.Config.Cmd}}", [], default=DEFAULT) == "CMD\n"


def test_bad_template_is_one_error() -> None:
    with pytest.raises(TemplateError, match="invalid template"):
        render("table {{.ID", ROWS, default=DEFAULT)


@pytest.mark.parametrize(
    ("field", "header"),
    [("ID", "ID"), ("CreatedSince", "CREATED SINCE"), ("Size", "SIZE"), ("RepoTags", "REPO TAGS")],
)
def test_default_headers(field: str, header: str) -> None:
    assert default_header(field) == header


def test_tabwriter_column_blocks() -> None:
    # A line with fewer cells ends the block: the next block is sized on its own.
    text = "a\tbbbbbbbbbbbbbbbb\tc\nshort\nlonger-cell\tx\n"
    assert tabwrite(text) == ("a         bbbbbbbbbbbbbbbb   c\nshort\nlonger-cell   x\n")


def test_tabwriter_last_cell_not_padded() -> None:
    assert tabwrite("x\ty\n") == "x         y\n"


def test_documents() -> None:
    documents = [{"Id": "a", "Config": {"Cmd": ["sh"]}}, {"Id": "b", "Config": {}}]
    assert json.loads(render_documents(None, documents)) == documents
    assert render_documents("{{.Id}} {{json .Config}}", documents) == 'a {"Cmd":["sh"]}\nb {}\n'
    assert render_documents("{{.Id}}\\n", documents) == "a\n\nb\n\n"
