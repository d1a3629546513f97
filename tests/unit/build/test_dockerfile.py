"""The Dockerfile parser against Docker's documented rules and BuildKit's test cases."""

from __future__ import annotations

import pytest

from capsa.build.dockerfile import (
    Dockerfile,
    DockerfileError,
    Flag,
    Heredoc,
    Instruction,
    go_duration_seconds,
    parse,
)
from capsa.errors import InvalidArgument


def one(text: str) -> Instruction:
    """The single instruction after a FROM line."""
    df = parse("FROM scratch\n" + text)
    assert len(df.instructions) == 2, df.instructions
    return df.instructions[1]


def error(text: str) -> DockerfileError:
    with pytest.raises(DockerfileError) as info:
        parse(text)
    return info.value


# -- lines, comments, continuations ---------------------------------------------------


def test_simple_file_keywords_lines_and_text() -> None:
    df = parse('FROM busybox\nRUN echo hi\n\nCMD ["sh"]\n')
    assert [i.keyword for i in df.instructions] == ["FROM", "RUN", "CMD"]
    assert [(i.line, i.end_line) for i in df.instructions] == [(1, 1), (2, 2), (4, 4)]
    assert df.instructions[1].text == "echo hi"
    assert df.escape == "\\"
    assert df.filename == "Dockerfile"
    assert isinstance(df, Dockerfile)


def test_keywords_are_case_insensitive() -> None:
    df = parse("from busybox\nrUn echo hi\n")
    assert [i.keyword for i in df.instructions] == ["FROM", "RUN"]
    assert df.instructions[1].original == "rUn echo hi"


def test_leading_whitespace_before_instructions_and_comments_is_ignored() -> None:
    df = parse("   FROM busybox\n\t# comment\n  RUN echo hi   \n")
    assert [i.text for i in df.instructions] == ["busybox", "echo hi"]


def test_comment_is_only_at_line_start() -> None:
    ins = one("RUN echo hello # not a comment\n")
    assert ins.text == "echo hello # not a comment"


def test_continuation_joins_lines_keeping_indentation_of_the_next() -> None:
    ins = one("RUN apt-get update && \\\n    apt-get install -y curl\n")
    assert ins.text == "apt-get update &&     apt-get install -y curl"
    assert (ins.line, ins.end_line) == (2, 3)


def test_continuation_allows_trailing_blanks_after_the_escape() -> None:
    ins = one("RUN echo a \\  \t\nb\n")
    assert ins.text == "echo a b"


def test_comment_lines_inside_a_continuation_are_dropped() -> None:
    ins = one("RUN echo a && \\\n# comment\n   # indented comment\n echo b\n")
    assert ins.text == "echo a &&  echo b"
    assert ins.end_line == 5


def test_empty_continuation_line_is_allowed_with_a_warning() -> None:
    df = parse("FROM scratch\nRUN echo a \\\n\n  \\\n echo b\n")
    ins = df.instructions[1]
    assert "echo a" in ins.text and "echo b" in ins.text
    assert len(df.warnings) == 1
    assert df.warnings[0].startswith("Dockerfile:2: NoEmptyContinuation: empty continuation line")


def test_escaped_escape_at_line_end_does_not_continue() -> None:
    df = parse("FROM scratch\nRUN echo a\\\\\nRUN echo b\n")
    assert [i.text for i in df.instructions[1:]] == ["echo a\\\\", "echo b"]


def test_lone_escape_line_continues() -> None:
    ins = one("RUN echo a \\\n\\\necho b\n")
    assert ins.text == "echo a echo b"


def test_continuation_at_end_of_file_ends_the_instruction() -> None:
    ins = one("RUN echo a \\")
    assert ins.text == "echo a"


def test_crlf_and_bom_are_accepted() -> None:
    df = parse("\ufeffFROM busybox\r\nRUN echo a \\\r\n  b\r\n")
    assert df.instructions[0].text == "busybox"
    assert df.instructions[1].text == "echo a   b"


def test_filename_appears_in_errors_and_warnings() -> None:
    with pytest.raises(DockerfileError) as info:
        parse("FROM a\nBOGUS x\n", filename="app/Containerfile")
    assert str(info.value).startswith("app/Containerfile:2: unknown instruction: BOGUS")
    assert info.value.filename == "app/Containerfile"
    assert info.value.line == 2
    assert isinstance(info.value, InvalidArgument)


# -- parser directives ----------------------------------------------------------------


def test_directives_at_the_top_case_insensitive_keys() -> None:
    df = parse("# syntax=docker/dockerfile:1\n#  ESCAPE = `\n# check=skip=all\nFROM a\n")
    assert df.directives == {"syntax": "docker/dockerfile:1", "escape": "`", "check": "skip=all"}
    assert df.escape == "`"


def test_backtick_escape_continues_lines_and_backslash_is_literal() -> None:
    df = parse("# escape=`\nFROM windows\nRUN dir c:\\ `\n  /s\nCOPY a\\b c:\\dst\\\n")
    assert df.instructions[1].text == "dir c:\\   /s"
    assert df.instructions[2].text == "a\\b c:\\dst\\"


def test_directive_after_a_comment_is_a_comment() -> None:
    df = parse("# about this file\n# escape=`\nFROM a\nRUN x \\\n y\n")
    assert df.directives == {}
    assert df.escape == "\\"
    assert df.instructions[1].text == "x  y"


def test_directive_after_an_empty_line_is_a_comment() -> None:
    df = parse("\n# escape=`\nFROM a\n")
    assert df.directives == {}


def test_directive_after_an_instruction_is_a_comment() -> None:
    df = parse("FROM a\n# escape=`\n")
    assert df.directives == {}


def test_unknown_directive_ends_directives() -> None:
    df = parse("# unknowndirective=value\n# syntax=x\nFROM a\n")
    assert df.directives == {}


def test_repeated_directive_is_an_error_with_its_line() -> None:
    e = error("# escape=\\\n# escape=`\nFROM a\n")
    assert e.line == 2
    assert "only one escape parser directive" in str(e)


def test_invalid_escape_is_an_error() -> None:
    e = error("# escape=x\nFROM a\n")
    assert e.line == 1
    assert "invalid escape token" in str(e)


# -- instruction placement and unknown keywords ---------------------------------------


def test_only_arg_may_precede_from() -> None:
    df = parse("ARG V=1\nARG B\nFROM a:$V\n")
    assert [i.keyword for i in df.instructions] == ["ARG", "ARG", "FROM"]
    e = error("ARG V=1\nRUN echo\nFROM a\n")
    assert e.line == 2
    assert "RUN before the first FROM" in str(e)


def test_file_without_from_is_an_error() -> None:
    assert "no FROM" in str(error("ARG A\n"))


def test_empty_file_is_an_error() -> None:
    assert "file with no instructions" in str(error("# just a comment\n\n"))
    assert "file with no instructions" in str(error(""))


def test_unknown_instruction_names_line_and_suggests() -> None:
    e = error("FROM a\n\nRUNN echo\n")
    assert e.line == 3
    assert "unknown instruction: RUNN" in str(e)
    assert e.hint == "did you mean RUN?"


def test_onbuild_parses_its_trigger() -> None:
    ins = one("ONBUILD COPY --chown=1 . /app\n")
    assert ins.keyword == "ONBUILD"
    assert ins.text == "COPY --chown=1 . /app"
    assert ins.onbuild is not None
    assert ins.onbuild.keyword == "COPY"
    assert ins.onbuild.flags == (Flag("chown", "1"),)
    assert ins.onbuild.text == ". /app"


@pytest.mark.parametrize(
    ("trigger", "message"),
    [
        ("ONBUILD RUN x", "ONBUILD ONBUILD"),
        ("FROM a", "FROM isn't allowed as an ONBUILD trigger"),
        ("maintainer me", "MAINTAINER isn't allowed as an ONBUILD trigger"),
        ("BOGUS x", "unknown instruction: BOGUS"),
        ("COPY --mount=x a b", "unknown flag: --mount"),
    ],
)
def test_onbuild_refuses_bad_triggers(trigger: str, message: str) -> None:
    e = error(f"FROM a\nONBUILD {trigger}\n")
    assert e.line == 2
    assert message in str(e)


def test_onbuild_without_trigger_is_an_error() -> None:
    assert "ONBUILD requires at least one argument" in str(error("FROM a\nONBUILD\n"))


# -- flags ------------------------------------------------------------------------------


def test_flags_in_order_repeatable_and_bare() -> None:
    ins = one("RUN --mount=type=cache,target=/a --network=none --mount=type=tmpfs,target=/t ls\n")
    assert ins.flags == (
        Flag("mount", "type=cache,target=/a"),
        Flag("network", "none"),
        Flag("mount", "type=tmpfs,target=/t"),
    )
    assert ins.flag_values("mount") == ["type=cache,target=/a", "type=tmpfs,target=/t"]
    assert ins.flag("network") == "none"
    assert ins.flag("security") is None
    assert ins.has_flag("mount") and not ins.has_flag("security")
    assert ins.text == "ls"


def test_bool_flags_bare_or_true_false() -> None:
    ins = one("COPY --link --parents=FALSE a /b\n")
    assert ins.flags == (Flag("link", None), Flag("parents", "false"))
    assert ins.has_flag("link")


def test_flag_values_lose_their_quotes() -> None:
    ins = one('COPY --chown="1000:1000" a /b\n')
    assert ins.flag("chown") == "1000:1000"


def test_flags_end_at_the_first_word_not_starting_with_dashes() -> None:
    ins = one("RUN echo --mount=x\n")
    assert ins.flags == ()
    assert ins.text == "echo --mount=x"


def test_double_dash_ends_flags() -> None:
    ins = one("RUN --network=none -- --weird-command\n")
    assert ins.flags == (Flag("network", "none"),)
    assert ins.text == "--weird-command"


def test_from_platform_flag() -> None:
    df = parse("FROM --platform=$BUILDPLATFORM golang:1.22 AS build\n")
    assert df.instructions[0].flag("platform") == "$BUILDPLATFORM"
    assert df.instructions[0].text == "golang:1.22 AS build"


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("COPY --mount=type=cache a b", "unknown flag: --mount for COPY"),
        ("ADD --from=x a b", "unknown flag: --from for ADD"),
        ("RUN --chown=1 ls", "unknown flag: --chown for RUN"),
        ("ENV --x=1 a=b", "unknown flag: --x for ENV"),
        ("COPY --from=a --from=b x y", "duplicate flag specified: --from"),
        ("COPY --from a b", "missing a value on flag: --from"),
        ("COPY --link= a b", "missing a value on flag: --link"),
        ("COPY --link=yes a b", "expecting boolean value for flag --link"),
        ("RUN --network ls", "missing a value on flag: --network"),
    ],
)
def test_flag_errors(line: str, message: str) -> None:
    e = error(f"FROM a\n\n{line}\n")
    assert e.line == 3
    assert message in str(e)


def test_known_flags_of_each_keyword_are_accepted() -> None:
    parse(
        "FROM --platform=linux/amd64 a\n"
        "RUN --mount=type=secret,id=x --network=host --security=insecure ls\n"
        "COPY --from=a --chown=1 --chmod=644 --link --parents --exclude=*.md a /b\n"
        "ADD --chown=1 --chmod=644 --link --keep-git-dir=true --checksum=sha256:0 "
        "--exclude=x a /b\n"
        "HEALTHCHECK --interval=5m --timeout=3s --start-period=1s --start-interval=2s "
        "--retries=3 CMD curl -f http://localhost/\n"
    )


# -- JSON (exec) form -------------------------------------------------------------------


@pytest.mark.parametrize("keyword", ["RUN", "CMD", "ENTRYPOINT", "SHELL", "VOLUME"])
def test_json_form(keyword: str) -> None:
    ins = one(f'{keyword} ["/bin/sh", "-c", "echo \\"hi\\""]\n')
    assert ins.json == ("/bin/sh", "-c", 'echo "hi"')
    assert ins.text == '["/bin/sh", "-c", "echo \\"hi\\""]'


def test_json_form_copy_and_add() -> None:
    assert one('COPY ["a b", "/dst dir/"]\n').json == ("a b", "/dst dir/")
    assert one('ADD ["a", "/b"]\n').json == ("a", "/b")


def test_not_json_falls_back_to_shell_form() -> None:
    assert one("CMD [not json]\n").json is None
    assert one("RUN [ -f x ] && echo y\n").json is None
    assert one("CMD ['single', 'quotes']\n").json is None
    assert one('CMD ["a"] trailing\n').json is None
    assert one("CMD [NaN]\n").json is None


def test_json_array_of_non_strings_is_an_error() -> None:
    e = error('FROM a\nCMD ["a", 1]\n')
    assert e.line == 2
    assert "arrays must be comprised of strings only" in str(e)


def test_json_is_not_looked_for_in_other_keywords() -> None:
    assert one('LABEL x=["a"]\n').json is None
    assert one('WORKDIR ["/a"]\n').json is None


def test_empty_json_arrays() -> None:
    assert one("ENTRYPOINT []\n").json == ()
    assert one("CMD []\n").json == ()


def test_shell_requires_json() -> None:
    e = error("FROM a\nSHELL /bin/bash -c\n")
    assert e.line == 2
    assert "SHELL requires the arguments to be in JSON form" in str(e)
    assert "SHELL requires at least one argument" in str(error("FROM a\nSHELL []\n"))


def test_healthcheck_forms() -> None:
    ins = one('HEALTHCHECK --interval=30s --retries=3 CMD ["curl", "-f", "http://x/"]\n')
    assert ins.json == ("curl", "-f", "http://x/")
    assert ins.text == 'CMD ["curl", "-f", "http://x/"]'
    assert ins.flag("interval") == "30s"
    shell = one("HEALTHCHECK CMD curl -f http://x/ || exit 1\n")
    assert shell.json is None
    assert shell.text == "CMD curl -f http://x/ || exit 1"
    assert one("HEALTHCHECK NONE\n").text == "NONE"


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("HEALTHCHECK", "HEALTHCHECK requires at least one argument"),
        ("HEALTHCHECK NONE x", "HEALTHCHECK NONE takes no arguments"),
        ("HEALTHCHECK RUN x", "unknown type 'RUN' in HEALTHCHECK"),
        ("HEALTHCHECK CMD", "missing command after HEALTHCHECK CMD"),
        ("HEALTHCHECK CMD []", "missing command after HEALTHCHECK CMD"),
        ("HEALTHCHECK --interval=5 CMD x", "--interval: invalid duration '5'"),
        ("HEALTHCHECK --timeout=10ns CMD x", "--timeout cannot be less than 1ms"),
        ("HEALTHCHECK --retries=-1 CMD x", "--retries cannot be negative"),
        ("HEALTHCHECK --retries=two CMD x", "--retries must be an integer"),
        ("HEALTHCHECK --mount=x CMD x", "unknown flag: --mount"),
    ],
)
def test_healthcheck_errors(line: str, message: str) -> None:
    e = error(f"FROM a\n{line}\n")
    assert e.line == 2
    assert message in str(e)


def test_go_durations() -> None:
    assert go_duration_seconds("30s") == 30
    assert go_duration_seconds("1m30s") == 90
    assert go_duration_seconds("1.5h") == 5400
    assert go_duration_seconds("500ms") == 0.5
    assert go_duration_seconds("0") == 0
    for bad in ("", "5", "s", "1d", "1s2", ".s"):
        with pytest.raises(ValueError):
            go_duration_seconds(bad)


# -- argument checks ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("FROM", "FROM requires either one or three arguments"),
        ("FROM a b", "FROM requires either one or three arguments"),
        ("FROM a AS b c", "FROM requires either one or three arguments"),
        ("FROM a AS 1st", "invalid name for build stage: '1st'"),
        ("FROM a AS b$", "invalid name for build stage"),
    ],
)
def test_from_errors(line: str, message: str) -> None:
    e = error(line + "\n")
    assert e.line == 1
    assert message in str(e)


def test_from_stage_names() -> None:
    df = parse("FROM a as Build-1.x_y\nFROM b AS c\n")
    assert df.instructions[0].text == "a as Build-1.x_y"


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("COPY a", "COPY requires at least two arguments, but only one was provided"),
        ("ADD a", "ADD requires at least two arguments"),
        ("COPY", "COPY requires at least two arguments"),
        ('COPY ["a"]', "COPY requires at least two arguments"),
        ("RUN", "RUN requires at least one argument"),
        ("WORKDIR", "WORKDIR requires exactly one argument"),
        ("USER", "USER requires exactly one argument"),
        ("STOPSIGNAL", "STOPSIGNAL requires exactly one argument"),
        ("MAINTAINER", "MAINTAINER requires exactly one argument"),
        ("EXPOSE", "EXPOSE requires at least one argument"),
        ("VOLUME", "VOLUME requires at least one argument"),
        ('VOLUME ["/a", " "]', "VOLUME specified can not be an empty string"),
        ("ENV", "ENV requires at least one argument"),
        ("ENV A", "ENV must have two arguments"),
        ("ENV a=1 b", "can't find = in 'b'"),
        ("ENV =1", "ENV names can not be blank"),
        ("LABEL", "LABEL requires at least one argument"),
        ("LABEL a=1 b", "can't find = in 'b'"),
        ("ARG", "ARG requires at least one argument"),
        ("ARG =x", "ARG names can not be blank"),
        ('ENV a="unterminated', "matching double-quote"),
    ],
)
def test_argument_errors(line: str, message: str) -> None:
    e = error(f"FROM a\n\n{line}\n")
    assert e.line == 3, str(e)
    assert message in str(e)


def test_cmd_and_entrypoint_may_be_empty() -> None:
    assert one("CMD\n").text == ""
    assert one("ENTRYPOINT\n").text == ""


def test_whole_rest_of_line_is_the_argument_of_workdir_and_user() -> None:
    assert one("WORKDIR /path with spaces\n").text == "/path with spaces"


def test_env_label_arg_forms_are_kept_as_text() -> None:
    assert one('ENV A=1 B="two words"\n').text == 'A=1 B="two words"'
    assert one("ARG A B=2\n").text == "A B=2"
    assert one('LABEL "com.example.vendor"="ACME" version=1\n').text.startswith('"com')


def test_legacy_key_value_form_warns() -> None:
    df = parse('FROM a\nENV A some value\nLABEL b c\nENV C=1\nLABEL "a b"=c\n')
    assert df.warnings == (
        'Dockerfile:2: LegacyKeyValueFormat: legacy "ENV key value" form: write "ENV key=value"',
        'Dockerfile:3: LegacyKeyValueFormat: legacy "LABEL key value" form: '
        'write "LABEL key=value"',
    )


def test_maintainer_warns() -> None:
    df = parse("FROM a\nMAINTAINER me <me@example.com>\n")
    assert df.instructions[1].text == "me <me@example.com>"
    assert "MAINTAINER is deprecated" in df.warnings[0]


# -- heredocs (cases of BuildKit's parser_heredoc_test.go) ----------------------------


def test_heredoc_run() -> None:
    ins = one("RUN <<EOF\necho hello\necho world\nEOF\n")
    assert ins.heredocs == (Heredoc("EOF", "echo hello\necho world\n", True, False),)
    assert ins.text == "<<EOF"
    assert (ins.line, ins.end_line) == (2, 5)


def test_heredoc_followed_by_instructions() -> None:
    df = parse("FROM a\nRUN <<EOF\nx\nEOF\nRUN ls\n")
    assert [(i.keyword, i.line, i.end_line) for i in df.instructions] == [
        ("FROM", 1, 1),
        ("RUN", 2, 4),
        ("RUN", 5, 5),
    ]


def test_heredoc_body_is_verbatim_comments_and_quotes_included() -> None:
    body = "# internal comment\necho 'a' \"b\" \\\n  $X # trailing\n\n"
    ins = one(f"RUN <<COMMENT\n{body}COMMENT\n")
    assert ins.heredocs[0].content == body


def test_heredoc_empty_body() -> None:
    assert one("RUN <<EMPTY\nEMPTY\n").heredocs == (Heredoc("EMPTY", "", True, False),)


def test_heredoc_with_file_descriptor() -> None:
    assert one("RUN 3<<EOF\nx\nEOF\n").heredocs[0].name == "EOF"


def test_heredoc_chomp_strips_leading_tabs_and_allows_indented_delimiter() -> None:
    ins = one("RUN <<-UNINDENT\n\tbaz\n\t\tquux\n  spaces stay\n\tUNINDENT\n")
    assert ins.heredocs == (Heredoc("UNINDENT", "baz\nquux\n  spaces stay\n", True, True),)


def test_heredoc_without_chomp_keeps_tabs_and_needs_exact_delimiter() -> None:
    ins = one("RUN <<INDENT\n\tfoo\n\tINDENT\nINDENT\n")
    assert ins.heredocs[0].content == "\tfoo\n\tINDENT\n"


@pytest.mark.parametrize(
    ("opener", "name", "expand"),
    [
        ("<<'NOEXPAND'", "NOEXPAND", False),
        ('<<"NOEXPAND"', "NOEXPAND", False),
        ("<<eo'f'", "eof", False),
        ("<<eo\\'f", "eo'f", True),
        ("<<'e'o\\'f", "eo'f", False),
        ("<<'one two'", "one two", False),
        ("<<$EOF", "$EOF", True),
        ("<<  EOF", "EOF", True),
        ("<<file.txt", "file.txt", True),
    ],
)
def test_heredoc_delimiter_quoting(opener: str, name: str, expand: bool) -> None:
    ins = one(f"RUN {opener}\nbody $X\n{name}\n")
    assert ins.heredocs == (Heredoc(name, "body $X\n", expand, False),)


def test_heredoc_blank_before_dash_is_not_chomp() -> None:
    ins = one("RUN << -EOF\n-EOF\n")
    assert ins.heredocs == (Heredoc("-EOF", "", True, False),)


def test_heredoc_with_more_words_and_flags() -> None:
    ins = one("RUN --mount=type=cache,target=/c <<COMPLEX python3\nprint('hi')\nCOMPLEX\n")
    assert ins.text == "<<COMPLEX python3"
    assert ins.heredocs[0].content == "print('hi')\n"
    assert ins.flag("mount") == "type=cache,target=/c"
    redirect = one("RUN <<  EOF  > foo\nEOF\n")
    assert redirect.heredocs[0].name == "EOF"


def test_several_heredocs_are_read_in_order() -> None:
    ins = one("COPY <<FILE1 <<FILE2 /dest\ncontent 1\nFILE1\ncontent 2\nFILE2\n")
    assert ins.heredocs == (
        Heredoc("FILE1", "content 1\n", True, False),
        Heredoc("FILE2", "content 2\n", True, False),
    )
    crossed = one("COPY <<X <<Y /dest\nY\nX\nX\nY\n")
    assert [(h.name, h.content) for h in crossed.heredocs] == [("X", "Y\n"), ("Y", "X\n")]
    run = one("RUN <<A <<B\na\nA\nb\nB\n")
    assert [h.content for h in run.heredocs] == ["a\n", "b\n"]


def test_heredoc_in_add_and_onbuild() -> None:
    assert one("ADD <<EOF /x\nhi\nEOF\n").heredocs[0].content == "hi\n"
    ins = one("ONBUILD RUN <<EOF\nhi\nEOF\n")
    assert ins.onbuild is not None
    assert ins.onbuild.heredocs == (Heredoc("EOF", "hi\n", True, False),)
    assert ins.end_line == 4


def test_no_heredoc_in_quotes_json_or_other_keywords() -> None:
    assert one('RUN "<<NOHEREDOC"\n').heredocs == ()
    assert one("RUN '<<EOF'\n").heredocs == ()
    assert one('RUN ["<<EOF"]\n').heredocs == ()
    assert one("RUN echo a<b\n").heredocs == ()
    # USER takes no heredoc: the next line is an instruction of its own
    e = error("FROM a\nUSER <<INVALID\nINVALID\n")
    assert e.line == 3
    assert "unknown instruction: INVALID" in str(e)


def test_unterminated_heredoc_is_an_error_with_the_instruction_line() -> None:
    e = error("FROM a\nRUN true\nRUN <<EOF\necho hi\n")
    assert e.line == 3
    assert "unterminated heredoc <<EOF" in str(e)


def test_second_unterminated_heredoc() -> None:
    e = error("FROM a\nCOPY <<A <<B /dst/\na\nA\nb\n")
    assert e.line == 2
    assert "<<B" in str(e)


def test_heredoc_as_copy_destination_is_an_error() -> None:
    e = error("FROM a\nCOPY <<A <<B\na\nA\nb\nB\n")
    assert e.line == 2
    assert "COPY cannot accept a heredoc as a destination" in str(e)


def test_heredoc_crlf_body_lines_end_in_lf() -> None:
    ins = one("RUN <<EOF\r\necho hi\r\nEOF\r\n")
    assert ins.heredocs[0].content == "echo hi\n"


def test_original_is_the_joined_logical_line() -> None:
    df = parse("FROM a\nRUN echo a \\\n  b\n")
    assert df.instructions[1].original == "RUN echo a   b"
