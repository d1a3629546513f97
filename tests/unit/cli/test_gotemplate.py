"""Go templates as Docker's --format takes them: what each construct prints, and the
errors of bad templates and failed executions."""

from __future__ import annotations

import pytest

from capsa.cli.gotemplate import Struct, Template, TemplateError
from capsa.errors import InvalidArgument

DATA = {
    "ID": "sha256:abc",
    "Repository": "busybox",
    "Labels": {"b": "2", "a": "1"},
    "List": ["x", "y", "z"],
    "Empty": [],
    "N": 3,
    "Zero": 0,
    "Float": 1234567.0,
    "Small": 0.5,
    "Yes": True,
    "Nil": None,
    "Config": {"Cmd": ["sh", "-c"], "Env": None, "User": ""},
    "Items": [{"Name": "a", "Size": 1}, {"Name": "b", "Size": 2}],
}


def run(source: str, data: object = DATA) -> str:
    return Template.parse(source).execute(data)


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("plain text", "plain text"),
        ("{{.ID}}", "sha256:abc"),
        ("{{.Config.Cmd}}", "[sh -c]"),
        ("{{.Config.User}}|", "|"),
        (
            "{{.}}",
            "map[Config:map[Cmd:[sh -c] Env:<nil> User:] Empty:[] Float:1.234567e+06 "
            "ID:sha256:abc Items:[map[Name:a Size:1] map[Name:b Size:2]] Labels:map[a:1 b:2] "
            "List:[x y z] N:3 Nil:<nil> Repository:busybox Small:0.5 Yes:true Zero:0]",
        ),
        ("{{.Missing}}", "<no value>"),
        ("{{.Missing.Deeper}}", "<no value>"),
        ("{{.Nil}}", "<no value>"),
        ("{{.Labels}}", "map[a:1 b:2]"),
        ("{{.N}} {{.Zero}} {{.Yes}} {{.Small}} {{.Float}}", "3 0 true 0.5 1.234567e+06"),
        ("{{json .Labels}}", '{"b":"2","a":"1"}'),
        ("{{json .Config}}", '{"Cmd":["sh","-c"],"Env":null,"User":""}'),
        ("{{json .Repository}}", '"busybox"'),
        ('{{json "<&>"}}', '"<&>"'),
        ("{{.Labels | json}}", '{"b":"2","a":"1"}'),
        ("{{.Repository | upper | lower}}", "busybox"),
        ("{{range .List}}<{{.}}>{{end}}", "<x><y><z>"),
        ("{{range $i, $e := .List}}{{$i}}={{$e}} {{end}}", "0=x 1=y 2=z "),
        ("{{range $e := .List}}{{$e}}{{end}}", "xyz"),
        ("{{range $k, $v := .Labels}}{{$k}}:{{$v}},{{end}}", "a:1,b:2,"),
        ("{{range .Labels}}{{.}}{{end}}", "12"),
        ("{{range .Empty}}x{{else}}none{{end}}", "none"),
        ("{{range .Nil}}x{{else}}none{{end}}", "none"),
        ("{{range .Items}}{{.Name}}:{{.Size}} {{end}}", "a:1 b:2 "),
        ("{{range .Items}}{{$.Repository}}/{{.Name}} {{end}}", "busybox/a busybox/b "),
        ('{{range .List}}{{if eq . "y"}}{{continue}}{{end}}{{.}}{{end}}', "xz"),
        ('{{range .List}}{{if eq . "y"}}{{break}}{{end}}{{.}}{{end}}', "x"),
        ("{{range 3}}{{.}}{{end}}", "012"),
        ("{{if .N}}yes{{end}}", "yes"),
        ("{{if .Zero}}yes{{else}}no{{end}}", "no"),
        ("{{if .Empty}}yes{{else}}no{{end}}", "no"),
        ("{{if .Config.User}}u{{else if .Config.Cmd}}cmd{{else}}none{{end}}", "cmd"),
        ("{{if not .Yes}}a{{else if .Zero}}b{{else}}c{{end}}", "c"),
        ("{{if and .N .Yes}}both{{end}}", "both"),
        ("{{if or .Zero .Empty}}any{{else}}neither{{end}}", "neither"),
        ("{{with .Config}}{{.Cmd}}{{end}}", "[sh -c]"),
        ("{{with .Missing}}x{{else}}no config{{end}}", "no config"),
        ("{{with $c := .Config}}{{$c.Cmd}}{{end}}", "[sh -c]"),
        ('{{index .Labels "a"}}', "1"),
        ('{{index .Labels "nope"}}', "<no value>"),
        ("{{index .List 1}}", "y"),
        ("{{index .Items 1 | json}}", '{"Name":"b","Size":2}'),
        ('{{index .Items 0 "Name"}}', "a"),
        ('{{printf "%s" .Repository}}', "busybox"),
        ('{{printf "%s:%d" .Repository .N}}', "busybox:3"),
        (
            '{{printf "%-8s|%5d|%05d|%x|%q|%v|%t" "ab" 42 42 255 "q" .List .Yes}}',
            'ab      |   42|00042|ff|"q"|[x y z]|true',
        ),
        ('{{printf "%.2f %e %g" 3.14159 1000.0 0.25}}', "3.14 1.000000e+03 0.25"),
        ('{{printf "%d"}}', "%!d(MISSING)"),
        ('{{printf "%d" "s"}}', "%!d(string=s)"),
        ('{{printf "x" 1}}', "x%!(EXTRA int=1)"),
        ('{{printf "100%%"}}', "100%"),
        ('{{join .List ","}}', "x,y,z"),
        ('{{join .Empty ","}}', ""),
        ('{{split "a:b:c" ":"}}', "[a b c]"),
        ('{{index (split "a:b:c" ":") 2}}', "c"),
        ('{{lower "ABC"}} {{upper "abc"}} {{title "hello big-world"}}', "abc ABC Hello Big-World"),
        ("{{truncate .Repository 4}} {{truncate .Repository 40}}", "busy busybox"),
        ("[{{pad .Repository 2 1}}]", "[  busybox ]"),
        ("{{len .List}} {{len .Labels}} {{len .Repository}}", "3 2 7"),
        ("{{slice .Repository 1 3}} {{slice .List 1}}", "us [y z]"),
        (
            "{{eq .N 3}} {{ne .N 3}} {{lt .N 4}} {{le .N 3}} {{gt .N 3}} {{ge .N 3}}",
            "true false true true false true",
        ),
        ('{{eq .Repository "x" "busybox"}}', "true"),
        ('{{lt "a" "b"}}', "true"),
        ('{{and 1 0 2}} {{or 0 "" 7}} {{not 0}}', "0 7 true"),
        ("{{print .N .Repository 1 2}}", "3busybox1 2"),
        ("{{println .N .Repository}}", "3 busybox\n"),
        ("{{html \"<a href='x'>&</a>\"}}", "&lt;a href=&#39;x&#39;&gt;&amp;&lt;/a&gt;"),
        ('{{urlquery "a b&c"}}', "a+b%26c"),
        ("{{$x := .N}}{{$x}}{{$x = 5}}{{$x}}", "35"),
        ("{{$n := len .List}}{{if gt $n 2}}many{{end}}", "many"),
        ("{{(index .Items 0).Name}}", "a"),
        ("{{(.Config).Cmd}}", "[sh -c]"),
        ("a  {{- .N -}}  b", "a3b"),
        ("a\n  {{- .N}}\n", "a3\n"),
        ("{{.N -}}\n\n  x", "3x"),
        ("{{-3}}", "-3"),
        ("x{{/* a comment */}}y", "xy"),
        ("x {{- /* trimmed */ -}} y", "xy"),
        ('{{"quoted \\"s\\"\\t"}}', 'quoted "s"\t'),
        ("{{`raw \\n`}}", "raw \\n"),
        ("{{'a'}}", "97"),
        ("{{0x10}} {{1e3}} {{-2.5}}", "16 1000 -2.5"),
        ("{{nil}}", "<no value>"),
        ("{{true}}", "true"),
        ("{{.Repository\n}}", "busybox"),
    ],
)
def test_template_prints(source: str, expected: str) -> None:
    assert run(source) == expected


def test_variables_end_with_their_block() -> None:
    with pytest.raises(TemplateError, match=r'undefined variable "\$x"'):
        run("{{if .N}}{{$x := 1}}{{end}}{{$x}}")


def test_dollar_is_the_data_in_every_scope() -> None:
    assert run("{{with .Config}}{{$.Repository}} {{.Cmd}}{{end}}") == "busybox [sh -c]"


def test_a_struct_refuses_unknown_fields() -> None:
    row = Struct({"ID": "x"})
    assert run("{{.ID}}", row) == "x"
    with pytest.raises(TemplateError, match="can't evaluate field Nope in type struct"):
        run("{{.Nope}}", row)


@pytest.mark.parametrize(
    ("source", "message"),
    [
        ("{{.ID", "unclosed action at line 1, column 1"),
        ("{{.ID}", "unexpected '}' in action"),
        ("{{if .N}}x", "{{if}} at line 1, column 3 has no {{end}}"),
        ("{{end}}", "unexpected {{end}}"),
        ("{{else}}", "unexpected {{else}}"),
        ("{{range .List}}{{else}}x", "expected {{end}}"),
        ("{{nope .ID}}", 'function "nope" not defined'),
        ("{{.ID | }}", "missing command after '|'"),
        ("{{}}", "missing value for command"),
        ("{{range}}{{end}}", "missing value for range"),
        ('{{"open}}', "unterminated quoted string"),
        ("{{`open}}", "unterminated raw quoted string"),
        ("{{/* open }}", "unclosed comment"),
        ("{{break}}", "{{break}} outside {{range}}"),
        ('{{define "x"}}{{end}}', "not supported"),
        ("{{(.ID}}", "unclosed left paren"),
        ("{{.ID}}\n{{.N ]}}", "unexpected ']' in action at line 2, column 6"),
        ("{{'ab'}}", "malformed character constant"),
        ('{{"\\q"}}', "unknown escape sequence"),
        ("{{1.2.3x}}", "bad number syntax"),
    ],
)
def test_bad_templates_fail_in_one_line(source: str, message: str) -> None:
    with pytest.raises(TemplateError) as info:
        Template.parse(source)
    text = str(info.value)
    assert message in text
    assert "\n" not in text
    assert isinstance(info.value, InvalidArgument)  # exit code 125 at the CLI


@pytest.mark.parametrize(
    ("source", "message"),
    [
        ("{{.Repository.Name}}", "can't evaluate field Name in type string"),
        ("{{.List.Name}}", "can't evaluate field Name in type []interface {}"),
        ("{{lower 5}}", "expected string; got int"),
        ("{{lower}}", "wrong number of args for lower: want 1 got 0"),
        ("{{index .List 7}}", "index out of range: 7"),
        ("{{index .Nil 1}}", "index of untyped nil"),
        ("{{len .N}}", "len of type int"),
        ('{{eq .N "3"}}', "incompatible types for comparison"),
        ("{{lt .List 1}}", "incompatible types"),
        ("{{range .Repository}}{{end}}", "range can't iterate over busybox"),
        ("{{.ID 1}}", "can't give argument to non-function .ID"),
        ("{{1 | .ID}}", "can't give argument to non-function .ID"),
        ("{{$y}}", 'undefined variable "$y"'),
        ("{{$y = 1}}", "undefined variable: $y"),
        ('{{join .N ","}}', "expected []string; got int"),
        ("{{truncate .Repository}}", "wrong number of args for truncate"),
        ("{{slice .List 2 1}}", "slice index out of range"),
    ],
)
def test_failed_executions_say_where(source: str, message: str) -> None:
    template = Template.parse(source)
    with pytest.raises(TemplateError) as info:
        template.execute(DATA)
    assert message in str(info.value)
    assert "(at line 1, column" in str(info.value)
    assert "\n" not in str(info.value)


def test_deep_recursion_is_an_error_not_a_crash() -> None:
    nested: dict[str, object] = {}
    for _ in range(3):
        nested = {"A": nested}
    assert run("{{.A.A.A}}", nested) == "map[]"
    long = "{{" + "(" * 2000 + "1" + ")" * 2000 + "}}"
    with pytest.raises(TemplateError, match="nested too deeply"):
        Template.parse(long).execute({})
