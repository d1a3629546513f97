"""Variable substitution with Docker's rules (cases after BuildKit's lex_test.go)."""

from __future__ import annotations

import pytest

from capsa.build.shellwords import (
    Lookup,
    arg_definitions,
    expand,
    expand_heredoc,
    expand_words,
    key_values,
    referenced_names,
    split_raw_words,
)
from capsa.errors import InvalidArgument

ENV = {"PWD": "/home", "SHELL": "bash", "KOREAN": "한국어", "NULL": ""}


def env(extra: dict[str, str] | None = None) -> Lookup:
    values = {**ENV, **(extra or {})}
    return values.get


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("hello", "hello"),
        ("he'll'o", "hello"),
        ('he"ll"o', "hello"),
        ("he\\'llo", "he'llo"),
        ('he\\"llo', 'he"llo'),
        ("'$PWD'", "$PWD"),
        ('"$PWD"', "/home"),
        ("$PWD", "/home"),
        ("${PWD}", "/home"),
        ("a$PWD-b", "a/home-b"),
        ("\\$PWD", "$PWD"),
        ('"\\$PWD"', "$PWD"),
        ("\\${PWD}", "${PWD}"),
        ("$KOREAN", "한국어"),
        ("$NOTSET", ""),
        ("x${NOTSET}y", "xy"),
        ("$", "$"),
        ("a $ b", "a $ b"),
        ("$.x", "$.x"),
        ("100$", "100$"),
        ("'a\\b'", "a\\b"),
        ('"a\\b"', "a\\b"),
        ('"a\\\\b"', "a\\b"),
        ('"\\""', '"'),
        ("a\\", "a"),
        ("\\\\", "\\"),
        ("'\"'", '"'),
        ('"\'"', "'"),
        ("spaces  are  kept", "spaces  are  kept"),
        ("$PWD_x", ""),
        ("${PWD}_x", "/home_x"),
    ],
)
def test_expand(text: str, expected: str) -> None:
    assert expand(text, env()) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("${PWD:-x}", "/home"),
        ("${NOTSET:-x}", "x"),
        ("${NULL:-x}", "x"),
        ("${NULL-x}", ""),
        ("${NOTSET-x}", "x"),
        ("${PWD:+x}", "x"),
        ("${NULL:+x}", ""),
        ("${NULL+x}", "x"),
        ("${NOTSET+x}", ""),
        ("${NOTSET:-$PWD}", "/home"),
        ("${NOTSET:-${SHELL:-no}}", "bash"),
        ('${NOTSET:-"a b"}', "a b"),
        ("${NOTSET:-'$PWD'}", "$PWD"),
        ("${NOTSET:-}", ""),
        ("${PWD?x}", "/home"),
        ("${NULL?x}", ""),
        ("${PWD:?x}", "/home"),
        ("${ABC:-.}${NOTSET%x}${ABC:-.}", ".."),
    ],
)
def test_default_and_alternative_words(text: str, expected: str) -> None:
    assert expand(text, env()) == expected


def test_brace_word_in_double_quotes() -> None:
    assert expand('"${NOTSET:-a b} $PWD"', env()) == "a b /home"


def test_required_variables() -> None:
    lookup = env({"ARG": "x", "VAR": "plain"})
    assert expand("${VAR:?message here$ARG}", lookup) == "plain"
    with pytest.raises(InvalidArgument, match="VAR: message herex"):
        expand("${VAR:?message here$ARG}", env({"ARG": "x", "VAR": ""}))
    with pytest.raises(InvalidArgument, match="VAR: message herex"):
        expand("${VAR?message here$ARG}", env({"ARG": "x"}))
    assert expand("${VAR?message}", env({"VAR": ""})) == ""
    with pytest.raises(InvalidArgument, match="BAZ: is not allowed to be unset"):
        expand("${BAZ?}", env())
    with pytest.raises(InvalidArgument, match="NULL: is not allowed to be empty"):
        expand("${NULL:?}", env())


@pytest.mark.parametrize(
    ("text", "value", "expected"),
    [
        ("${FOO#()[]{\\}^$.\\*\\?|\\\\}", "()[]{}^$.*?|\\x", "x"),
        ("${FOO%%\\**}", "xx**", "xx"),
        ("${FOO#*x*y}", "xxyy", "y"),
        ("${FOO#*}", "xxyy", "xxyy"),
        ("${FOO#x}", "xxyy", "xyy"),
        ("${FOO#}", "xxyy", "xxyy"),
        ("${FOO##*x}", "xxyy", "yy"),
        ("${FOO##}", "xxyy", "xxyy"),
        ("${FOO#?\\?}", "???y", "?y"),
        ("${FOO%%\\**\\*}", "a***yy*", "a"),
        ("${FOO%}", "xxyy", "xxyy"),
        ("${FOO%y}", "xxyy", "xxy"),
        ("${FOO%y*}", "xxyy", "xxy"),
        ("${FOO%%y*}", "xxyy", "xx"),
        ("${FOO%.*}", "archive.tar.gz", "archive.tar"),
        ("${FOO%%.*}", "archive.tar.gz", "archive"),
        ("${FOO##*/}", "/usr/local/bin/tool", "tool"),
        ("${FOO#*/}", "usr/local/bin", "local/bin"),
        ("${FOO#nomatch}", "xxyy", "xxyy"),
        ("${ABC:-.}${FOO%x}${ABC:-.}", "xxyy", ".xxyy."),
    ],
)
def test_prefix_and_suffix_removal(text: str, value: str, expected: str) -> None:
    assert expand(text, {"FOO": value}.get) == expected


def test_pattern_from_a_variable() -> None:
    assert expand("${FOO#$BAR}", {"FOO": "xxyy", "BAR": "x"}.get) == "xyy"
    assert expand("${FOO#$BAR}", {"FOO": "xxyy", "BAR": ""}.get) == "xxyy"
    assert expand("${FOO%%$BAR}", {"FOO": "xxyy", "BAR": ""}.get) == "xxyy"


def test_removal_on_unset_variable_is_empty() -> None:
    assert expand("${NOTSET#x}", env()) == ""


def test_invalid_escape_in_pattern_is_an_error() -> None:
    with pytest.raises(InvalidArgument, match="invalid pattern"):
        expand("${FOO#\\x}", {"FOO": "x"}.get)


@pytest.mark.parametrize(
    ("text", "values", "expected"),
    [
        (
            "${FOO/$NEEDLE/.} - ${FOO//$NEEDLE/.}",
            {"FOO": "/foo*/*/*.txt", "NEEDLE": "\\*/"},
            "/foo.*/*.txt - /foo..*.txt",
        ),
        (
            "${FOO/$NEEDLE/} - ${FOO//$NEEDLE/}",
            {"FOO": "/tmp/tmp/bar.txt", "NEEDLE": "/tmp"},
            "/tmp/bar.txt - /bar.txt",
        ),
        (
            "${FOO/$NEEDLE/$REPLACEMENT} - ${FOO//$NEEDLE/$REPLACEMENT}",
            {"FOO": "/a/foo/b/c.txt", "NEEDLE": "/?/", "REPLACEMENT": "/"},
            "/foo/b/c.txt - /foo/c.txt",
        ),
        (
            "${FOO/$NEEDLE/$REPLACEMENT}",
            {"FOO": "http://google.de", "NEEDLE": "http://", "REPLACEMENT": "https://"},
            "https://google.de",
        ),
        ("${FOO//\\//\\/}", {"FOO": "/tmp/foo.txt"}, "\\/tmp\\/foo.txt"),
        ("${FOO/$BAR/ww}", {"FOO": "xxyy", "BAR": ""}, "wwxxyy"),
        ("${FOO///}", {"FOO": "xxyy"}, "xxyy"),
        ("${FOO///}", {}, ""),
        ("${FOO/x/\\1}", {"FOO": "axb"}, "a\\1b"),
        ("${FOO/x*/z}", {"FOO": "axbxc"}, "az"),
    ],
)
def test_pattern_replacement(text: str, values: dict[str, str], expected: str) -> None:
    assert expand(text, values.get) == expected


@pytest.mark.parametrize(
    "text",
    [
        "${",
        "${PWD",
        "${}",
        "${:x}",
        "${{x}",
        "${PWD:}",
        "${PWD:-x",
        "${FOO=aaa}",
        "${FOO=:aaa}",
        "${FOO=}",
        "${FOO:0:2}",
        "${FOO//ww}",
        "${FOO//}",
        "'unterminated",
        '"unterminated',
        '"$PWD',
    ],
)
def test_syntax_errors(text: str) -> None:
    with pytest.raises(InvalidArgument, match="cannot expand"):
        expand(text, {"FOO": "xxyy", "PWD": "/"}.get)


def test_missing_brace_message() -> None:
    with pytest.raises(InvalidArgument, match="missing '}'"):
        expand("${PWD", env())


def test_backtick_escape() -> None:
    assert expand("a`$PWD", env(), escape="`") == "a$PWD"
    assert expand("c:\\dir\\$PWD", env(), escape="`") == "c:\\dir\\/home"
    assert expand('"`""', env(), escape="`") == '"'
    assert expand("``", env(), escape="`") == "`"


def test_special_and_positional_parameters_expand_like_unset_names() -> None:
    assert expand("$1x", env()) == "x"
    assert expand("a$@b", env()) == "ab"
    assert expand("$$", env()) == ""
    assert expand("$12", {"12": "twelve"}.get) == "twelve"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("hello", ["hello"]),
        ("hello world", ["hello", "world"]),
        ("  hello   world  ", ["hello", "world"]),
        ('"hello world"', ["hello world"]),
        ("'hello world'", ["hello world"]),
        ("hello\\ world", ["hello world"]),
        ('a "" b', ["a", "b"]),
        ('a"b c"d', ["ab cd"]),
        ("$WORDS", ["one", "two"]),
        ('"$WORDS"', ["one two"]),
        ("x$WORDS", ["xone", "two"]),
        ("${NOTSET:-a b}", ["a", "b"]),
        ("$NOTSET", []),
        ("", []),
    ],
)
def test_expand_words(text: str, expected: list[str]) -> None:
    assert expand_words(text, {"WORDS": "one two"}.get) == expected


def test_expand_heredoc_keeps_quotes_and_escapes() -> None:
    body = "echo '$A' \"$A\" \\$A ${B:-b}\n"
    assert expand_heredoc(body, {"A": "1"}.get) == "echo '1' \"1\" \\$A b\n"


def test_referenced_names() -> None:
    text = "${A:-$B} $C \"$D\" '$E' $1 $@ ${F:?need} ${G#$H} ${I/$J/$K} \\$L"
    assert referenced_names(text) == {"A", "B", "C", "D", "F", "G", "H", "I", "J", "K"}


def test_referenced_names_with_backtick_escape() -> None:
    assert referenced_names("`$A \\$B", escape="`") == {"B"}


def test_split_raw_words_keeps_quotes_and_escapes() -> None:
    assert split_raw_words('a="b c" d\\ e \'f g\'') == ['a="b c"', "d\\ e", "'f g'"]
    assert split_raw_words('x="unterminated') == ['x="unterminated']
    assert split_raw_words('a "" b') == ["a", '""', "b"]


def test_key_values_forms() -> None:
    lookup = env()
    assert key_values('MY_NAME="John Doe" MY_DOG=Rex\\ The\\ Dog MY_CAT=fluffy', lookup) == [
        ("MY_NAME", "John Doe"),
        ("MY_DOG", "Rex The Dog"),
        ("MY_CAT", "fluffy"),
    ]
    assert key_values("dir=$PWD empty= q=''", lookup) == [
        ("dir", "/home"),
        ("empty", ""),
        ("q", ""),
    ]
    assert key_values("MY_VAR my-value is long", lookup) == [("MY_VAR", "my-value is long")]
    assert key_values('X "quoted $PWD" done', lookup) == [("X", "quoted /home done")]


def test_key_values_label_keys_are_unquoted_and_expanded() -> None:
    assert key_values(
        '"com.example.vendor"="ACME Inc" "a b"=c ${SHELL}=x', env(), keyword="LABEL"
    ) == [("com.example.vendor", "ACME Inc"), ("a b", "c"), ("bash", "x")]


def test_key_values_without_lookup_keep_references() -> None:
    assert key_values('"k"="$PWD ${X:-y}" a=\'$B\'', None, keyword="LABEL") == [
        ("k", "$PWD ${X:-y}"),
        ("a", "$B"),
    ]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "ENV requires at least one argument"),
        ("A", "ENV must have two arguments"),
        ("a=1 b", "can't find = in 'b'"),
        ("=1", "names can not be blank"),
    ],
)
def test_key_values_errors(text: str, message: str) -> None:
    with pytest.raises(InvalidArgument, match=message):
        key_values(text, env())


def test_arg_definitions() -> None:
    assert arg_definitions('A B=$PWD C= D="x y" E=${NOTSET:-d}', env()) == [
        ("A", None),
        ("B", "/home"),
        ("C", ""),
        ("D", "x y"),
        ("E", "d"),
    ]
    assert arg_definitions("V=$PWD", None) == [("V", "$PWD")]
    with pytest.raises(InvalidArgument, match="ARG names can not be blank"):
        arg_definitions("=x", env())
    with pytest.raises(InvalidArgument, match="ARG requires at least one argument"):
        arg_definitions("  ", env())
