""".dockerignore rules (cases after moby/patternmatcher's tests and Docker's docs)."""

from __future__ import annotations

from pathlib import Path

import pytest

from capsa.build.ignore import (
    IgnoreRules,
    clean_path,
    ignore_file_path,
    parse_ignore_file,
    read_ignore_file,
)
from capsa.errors import InvalidArgument


def ignored(patterns: list[str], path: str) -> bool:
    return IgnoreRules(patterns).ignored(path)


@pytest.mark.parametrize(
    ("pattern", "path", "expected"),
    [
        ("**", "file", True),
        ("**/", "file", True),
        ("**", "dir/file", True),
        ("**/**", "dir/file", True),
        ("dir/**", "dir/file", True),
        ("dir/**", "dir/dir2/file", True),
        ("**/dir", "dir", True),
        ("**/dir", "dir/file", True),
        ("**/dir2/*", "dir/dir2/file", True),
        ("**/dir2/**", "dir/dir2/dir3/file", True),
        ("**file", "file", True),
        ("**file", "dir/file", True),
        ("**/file", "dir/dir/file", True),
        ("**/file*", "dir/dir/file.txt", True),
        ("**/file*txt", "dir/dir/file.txt", True),
        ("**/file*.txt*", "dir/dir/file.txt", True),
        ("**/**/*.txt", "dir/dir/file.txt", True),
        ("**/**/*.txt2", "dir/dir/file.txt", False),
        ("**/*.txt", "file.txt", True),
        ("a**/*.txt", "a/dir/dir/file.txt", True),
        ("a/*.txt", "a/dir/file.txt", False),
        ("a/*.txt", "a/file.txt", True),
        ("a/*.txt**", "a/file.txt", True),
        ("a[b-d]e", "ae", False),
        ("a[b-d]e", "ace", True),
        ("a[b-d]e", "aae", False),
        ("a[^b-d]e", "aze", True),
        (".*", ".foo", True),
        (".*", "foo", False),
        ("abc.def", "abcdef", False),
        ("abc.def", "abc.def", True),
        ("abc?def", "abcZdef", True),
        ("abc?def", "abcdef", False),
        ("**/foo/bar", "foo/bar", True),
        ("**/foo/bar", "dir/dir2/foo/bar", True),
        ("abc/**", "abc", False),
        ("abc/**", "abc/def/ghi", True),
        ("**/.foo", ".foo", True),
        ("**/.foo", "bar.foo", False),
        ("a(b)c/def", "a(b)c/def", True),
        ("a(b)c/def", "a(b)c/xyz", False),
        ("a.|)$(}+{bc", "a.|)$(}+{bc", True),
        ("dist/*.whl", "dist/proxy.py-2.4.0rc3.dev36+g08acad9-py3-none-any.whl", True),
        ("a\\\\", "a\\", True),
        ("a\\*b", "a*b", True),
        ("a\\*b", "axb", False),
        ("*", "abc", True),
        ("*c", "abc", True),
        ("a*", "ab/c", True),
        ("a*/b", "abc/b", True),
        ("a*/b", "a/c/b", False),
        ("a*b*c*d*e*/f", "axbxcxdxexxx/f", True),
        ("a*b*c*d*e*/f", "axbxcxdxe/xxx/f", False),
        ("a*b?c*x", "abxbbxdbxebxczzx", True),
        ("a*b?c*x", "abxbbxdbxebxczzy", False),
        ("ab[^c]", "abc", False),
        ("ab[^e-g]", "abc", True),
        ("a?b", "a☺b", True),
        ("a???b", "a☺b", False),
        ("[a-ζ]*", "\u03b1", True),  # Greek alpha
        ("*[a-ζ]", "A", False),
        ("a?b", "a/b", False),
        ("a*b", "a/b", False),
        ("[\\]a]", "]", True),
        ("[x\\-]", "-", True),
        ("[x\\-]", "z", False),
        ("*x", "xxx", True),
        ("[z-a]", "m", False),
        ("a^b", "a^b", True),
    ],
)
def test_pattern_table(pattern: str, path: str, expected: bool) -> None:
    assert ignored([pattern], path) is expected


@pytest.mark.parametrize(
    "pattern", ["[", "[^", "[^bc", "a[", "[]a]", "[-]", "[x-]", "[-x]", "[a-b-c]", "\\"]
)
def test_malformed_patterns_are_errors(pattern: str) -> None:
    with pytest.raises(InvalidArgument, match="invalid ignore pattern"):
        IgnoreRules([pattern])


def test_single_exclamation_is_an_error() -> None:
    with pytest.raises(InvalidArgument, match='illegal exclusion pattern "!"'):
        IgnoreRules(["!"])


@pytest.mark.parametrize(
    ("patterns", "path", "expected"),
    [
        (["!fileutils.go", "*.go"], "fileutils.go", True),
        (["*.go", "!fileutils.go"], "fileutils.go", False),
        (["docs", "!docs/README.md"], "docs/README.md", False),
        (["docs/", "!docs/README.md"], "docs/README.md", False),
        (["docs/*", "!docs/README.md"], "docs/README.md", False),
        (["docs", "!docs/README.md"], "docs/other.md", True),
        (["**", "!util/docker/web"], "util/docker/web/foo", False),
        (["**", "!util/docker/web", "util/docker/web/foo"], "util/docker/web/foo", True),
        (["**", "!dist/*.whl"], "dist/proxy.py-2.4.0-py3-none-any.whl", False),
        (["*.md", "!README*.md", "README-secret.md"], "README-secret.md", True),
        (["*.md", "!README*.md", "README-secret.md"], "README.md", False),
        (["*.md", "README-secret.md", "!README*.md"], "README-secret.md", False),
    ],
)
def test_exceptions_last_match_wins(patterns: list[str], path: str, expected: bool) -> None:
    assert ignored(patterns, path) is expected


def test_directory_match_excludes_everything_below() -> None:
    rules = IgnoreRules(["node_modules", "build/out"])
    assert rules.ignored("node_modules")
    assert rules.ignored("node_modules/a/b/c.js")
    assert rules.ignored("build/out/x")
    assert not rules.ignored("build/outside")
    assert not rules.ignored("src/node_modules")  # patterns are anchored at the context


def test_patterns_and_paths_are_cleaned() -> None:
    rules = IgnoreRules(["/secret", "./tmp/../cache/", "  spaced  ", "a//b"])
    assert rules.patterns == ["secret", "cache", "spaced", "a/b"]
    assert rules.ignored("secret")
    assert rules.ignored("./cache/x")
    assert rules.ignored("/secret")
    assert rules.ignored("a/b")


def test_the_context_itself_is_never_ignored() -> None:
    assert not ignored(["*", "**"], ".")
    assert not ignored(["*"], "")


def test_no_patterns_ignore_nothing() -> None:
    rules = IgnoreRules([])
    assert not rules
    assert not rules.ignored("anything")
    assert not rules.may_contain_kept("anything")


def test_may_contain_kept() -> None:
    rules = IgnoreRules(["docs", "!docs/README.md", "vendor", "!**/keep.txt", "out"])
    assert rules.ignored("docs")
    assert rules.may_contain_kept("docs")
    assert rules.may_contain_kept("vendor")  # **/keep.txt may be anywhere
    plain = IgnoreRules(["docs", "!docs/README.md", "out", "!src/*.c"])
    assert plain.may_contain_kept("docs")
    assert not plain.may_contain_kept("out")
    assert not plain.may_contain_kept("docs/sub")  # README.md is not below docs/sub
    assert not IgnoreRules(["out"]).may_contain_kept("out")


def test_may_contain_kept_follows_wildcards_in_the_exception() -> None:
    rules = IgnoreRules(["pkg", "!pkg/*/LICENSE"])
    assert rules.may_contain_kept("pkg")
    assert rules.may_contain_kept("pkg/a")
    assert not rules.may_contain_kept("other")
    assert not IgnoreRules(["x", "!y/z"]).may_contain_kept("x")


def test_parse_ignore_file() -> None:
    text = (
        "\ufefftest1\n/test2\n/a/file/here\n\nlastfile\n# this is a comment\n"
        "! /inverted/abs/path\n  # not a comment after blanks\r\n"
    )
    assert parse_ignore_file(text) == [
        "test1",
        "test2",
        "a/file/here",
        "lastfile",
        "!inverted/abs/path",
        "# not a comment after blanks",
    ]


def test_clean_path_like_go() -> None:
    assert clean_path("") == "."
    assert clean_path("//a//b/") == "/a/b"
    assert clean_path("a/./b/../c") == "a/c"
    assert clean_path("../../a") == "../../a"
    assert clean_path("/../a") == "/a"
    assert clean_path("a/..") == "."


def test_read_ignore_file_order(tmp_path: Path) -> None:
    context = tmp_path
    assert ignore_file_path(str(context)) is None
    assert not read_ignore_file(str(context))
    (context / ".dockerignore").write_text("from-dockerignore\n")
    assert read_ignore_file(str(context)).patterns == ["from-dockerignore"]
    (context / ".containerignore").write_text("from-containerignore\n")
    assert read_ignore_file(str(context)).patterns == ["from-containerignore"]
    (context / "build").mkdir()
    (context / "build" / "app.Dockerfile").write_text("FROM a\n")
    (context / "build" / "app.Dockerfile.dockerignore").write_text("*.log\n!keep.log\n")
    rules = read_ignore_file(str(context), "build/app.Dockerfile")
    assert rules.patterns == ["*.log", "!keep.log"]
    assert rules.source == str(context / "build" / "app.Dockerfile.dockerignore")
    assert rules.ignored("x.log") and not rules.ignored("keep.log")
    # another Dockerfile without its own ignore file falls back to the context's
    other = read_ignore_file(str(context), str(context / "Dockerfile"))
    assert other.patterns == ["from-containerignore"]
    assert read_ignore_file(str(context), "-").patterns == ["from-containerignore"]


def test_read_ignore_file_reports_bad_patterns(tmp_path: Path) -> None:
    (tmp_path / ".dockerignore").write_text("ok\n!\n")
    with pytest.raises(InvalidArgument, match=r"illegal exclusion pattern \"!\" in .*dockerignore"):
        read_ignore_file(str(tmp_path))
