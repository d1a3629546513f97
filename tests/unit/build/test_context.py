"""The build context: COPY sources found with Go's filepath.Match rules, kept inside the
context, hidden by .dockerignore; and the content hash that keys a COPY step's cache."""

from __future__ import annotations

import io
import os
import tarfile
from pathlib import Path

import pytest

from capsa.build.context import (
    BuildContext,
    Source,
    clean_source,
    content_hash,
    has_glob,
    match_sources,
    walk_files,
)
from capsa.errors import InvalidArgument, NotFound


def tree(root: Path, files: dict[str, str]) -> Path:
    for name, data in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if name.endswith("/"):
            path.mkdir(exist_ok=True)
        else:
            path.write_text(data)
    return root


def names(sources: list[Source]) -> list[str]:
    return [source.relative for source in sources]


@pytest.fixture
def ctx(tmp_path: Path) -> Path:
    return tree(
        tmp_path / "ctx",
        {
            "home.txt": "h",
            "homer.txt": "hr",
            "hom1.txt": "1",
            "other.md": "o",
            "arr[0].txt": "a",
            "src/main.go": "m",
            "src/util.go": "u",
            "src/deep/x.go": "x",
            "empty/": "",
        },
    )


# -- clean_source, has_glob --------------------------------------------------------------


@pytest.mark.parametrize(
    ("pattern", "cleaned"),
    [
        ("a/b", "a/b"),
        ("./a//b/", "a/b"),
        ("/a", "a"),
        ("a/../b", "b"),
        ("../../etc/passwd", "etc/passwd"),  # never above the context
        (".", "."),
        ("", "."),
        ("/", "."),
    ],
)
def test_clean_source(pattern: str, cleaned: str) -> None:
    assert clean_source(pattern) == cleaned


def test_has_glob() -> None:
    assert has_glob("*.txt") and has_glob("a?") and has_glob("[ab]")
    assert not has_glob("plain/path.txt")


# -- match_sources ---------------------------------------------------------------------------


def test_a_plain_file_and_a_directory(ctx: Path) -> None:
    assert match_sources(str(ctx), "home.txt") == [Source("home.txt", False)]
    assert match_sources(str(ctx), "src/") == [Source("src", True)]
    assert match_sources(str(ctx), ".") == [Source(".", True)]


def test_a_missing_source_is_not_found_with_a_hint(ctx: Path) -> None:
    with pytest.raises(NotFound) as info:
        match_sources(str(ctx), "nope.txt")
    assert "nope.txt" in info.value.message and "build context" in info.value.message
    assert info.value.hint is not None and ".dockerignore" in info.value.hint


def test_a_glob_matching_nothing_is_not_found(ctx: Path) -> None:
    with pytest.raises(NotFound):
        match_sources(str(ctx), "*.rs", what="stage build")


def test_star_matches_within_one_name_sorted(ctx: Path) -> None:
    # Docker's example: COPY hom* /mydir/ adds all files starting with "hom"
    assert names(match_sources(str(ctx), "hom*")) == ["hom1.txt", "home.txt", "homer.txt"]


def test_question_mark_is_one_character(ctx: Path) -> None:
    # Docker's example: COPY hom?.txt /mydir/ matches home.txt, not homer.txt
    assert names(match_sources(str(ctx), "hom?.txt")) == ["hom1.txt", "home.txt"]


def test_brackets_escape_a_special_character(ctx: Path) -> None:
    # Docker's example: COPY arr[[]0].txt /mydir/ copies the file "arr[0].txt"
    assert names(match_sources(str(ctx), "arr[[]0].txt")) == ["arr[0].txt"]


def test_character_classes_and_ranges(ctx: Path) -> None:
    assert names(match_sources(str(ctx), "hom[0-9].txt")) == ["hom1.txt"]
    assert names(match_sources(str(ctx), "hom[ae]*")) == ["home.txt", "homer.txt"]


def test_a_caret_negates_a_class_as_in_go(ctx: Path) -> None:
    # Go's filepath.Match: [^0-9] is any character but a digit
    assert names(match_sources(str(ctx), "hom[^0-9].txt")) == ["home.txt"]


def test_a_malformed_pattern_is_refused(ctx: Path) -> None:
    # Go's filepath.Match returns ErrBadPattern for an unclosed [
    with pytest.raises(InvalidArgument) as info:
        match_sources(str(ctx), "hom[.txt")
    assert "hom[.txt: not a valid pattern" in info.value.message


def test_a_star_does_not_cross_a_slash(ctx: Path) -> None:
    assert names(match_sources(str(ctx), "src/*.go")) == ["src/main.go", "src/util.go"]
    assert names(match_sources(str(ctx), "*/*.go")) == ["src/main.go", "src/util.go"]
    assert names(match_sources(str(ctx), "*/*/*.go")) == ["src/deep/x.go"]


def test_a_glob_reports_directories(ctx: Path) -> None:
    found = match_sources(str(ctx), "*")
    assert Source("src", True) in found and Source("empty", True) in found
    assert Source("home.txt", False) in found


def test_hidden_paths_are_not_found(ctx: Path) -> None:
    def hide(relative: str) -> bool:
        return relative == "home.txt" or relative.startswith("src")

    assert names(match_sources(str(ctx), "hom*", hide=hide)) == ["hom1.txt", "homer.txt"]
    with pytest.raises(NotFound):
        match_sources(str(ctx), "home.txt", hide=hide)
    with pytest.raises(NotFound):
        match_sources(str(ctx), "src/*.go", hide=hide)


def test_a_source_cannot_name_a_path_outside(tmp_path: Path, ctx: Path) -> None:
    (tmp_path / "secret").write_text("s")
    # ".." is cleaned away: this names ctx/secret, which does not exist
    with pytest.raises(NotFound):
        match_sources(str(ctx), "../secret")


def test_a_symlink_out_of_the_context_is_not_followed(tmp_path: Path, ctx: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (ctx / "escape").symlink_to(outside)
    [found] = match_sources(str(ctx), "escape")
    assert found == Source("escape", False)  # the link itself, not the directory
    for pattern in ("escape/*", "esc*/*"):
        with pytest.raises(NotFound):
            match_sources(str(ctx), pattern)  # the walk does not enter it


def test_a_symlink_inside_the_context_reports_its_target(ctx: Path) -> None:
    (ctx / "link").symlink_to("src")
    assert match_sources(str(ctx), "link") == [Source("link", True)]
    assert match_sources(str(ctx), "lin?") == [Source("link", True)]  # globs alike


def test_a_linked_source_is_hashed_as_its_target(ctx: Path) -> None:
    # BuildKit follows a source that is a link (inside the context): so does the key
    (ctx / "link").symlink_to("src")
    sources = [Source("link", True)]
    assert [p for p, _ in walk_files(str(ctx), "link")][:2] == ["link", "link/deep"]
    first = content_hash(str(ctx), sources)
    (ctx / "src/main.go").write_text("changed")
    assert content_hash(str(ctx), sources) != first


# -- walk_files, content_hash ------------------------------------------------------------


def test_walk_files_lists_parents_first_sorted_and_hides(ctx: Path) -> None:
    walked = [path for path, _ in walk_files(str(ctx), "src")]
    assert walked == ["src", "src/deep", "src/deep/x.go", "src/main.go", "src/util.go"]
    hidden = [path for path, _ in walk_files(str(ctx), "src", lambda p: p == "src/deep")]
    assert hidden == ["src", "src/main.go", "src/util.go"]


def test_content_hash_changes_with_content_names_modes_and_links(ctx: Path) -> None:
    sources = [Source("src", True)]
    first = content_hash(str(ctx), sources)
    assert content_hash(str(ctx), sources) == first
    (ctx / "src/main.go").write_text("changed")
    second = content_hash(str(ctx), sources)
    assert second != first
    os.chmod(ctx / "src/main.go", 0o755)
    third = content_hash(str(ctx), sources)
    assert third != second
    (ctx / "src/main.go").rename(ctx / "src/renamed.go")
    fourth = content_hash(str(ctx), sources)
    assert fourth != third
    (ctx / "src/link").symlink_to("a")
    fifth = content_hash(str(ctx), sources)
    (ctx / "src/link").unlink()
    (ctx / "src/link").symlink_to("b")
    assert content_hash(str(ctx), sources) not in (fifth, fourth)


def test_content_hash_ignores_times_and_what_is_not_copied(ctx: Path) -> None:
    sources = [Source("src", True)]
    first = content_hash(str(ctx), sources)
    os.utime(ctx / "src/main.go", (1, 1))
    (ctx / "home.txt").write_text("not a source")
    assert content_hash(str(ctx), sources) == first


def test_content_hash_leaves_out_hidden_paths(ctx: Path) -> None:
    sources = [Source("src", True)]

    def hide(path: str) -> bool:
        return path == "src/deep"

    first = content_hash(str(ctx), sources, hide)
    (ctx / "src/deep/x.go").write_text("changed")
    assert content_hash(str(ctx), sources, hide) == first
    assert content_hash(str(ctx), sources) != first


def test_content_hash_refuses_special_files(ctx: Path) -> None:
    os.mkfifo(ctx / "src/fifo")
    with pytest.raises(InvalidArgument) as info:
        content_hash(str(ctx), [Source("src", True)])
    assert "src/fifo" in info.value.message


# -- BuildContext ---------------------------------------------------------------------------


def test_the_context_reads_dockerignore(ctx: Path) -> None:
    (ctx / ".dockerignore").write_text("*.md\nsrc/deep\n!src/deep/keep\n")
    context = BuildContext(str(ctx))
    assert context.ignored("other.md")
    assert context.ignored("src/deep/x.go")  # below an ignored directory
    assert not context.ignored("src/deep/keep")
    assert not context.ignored("home.txt")
    assert not context.ignored(".")  # the context itself never is


def test_a_dockerfile_specific_ignore_file_wins(ctx: Path) -> None:
    (ctx / ".dockerignore").write_text("*.md\n")
    (ctx / "build.Dockerfile.dockerignore").write_text("*.txt\n")
    context = BuildContext(str(ctx), dockerfile="build.Dockerfile")
    assert context.ignored("home.txt") and not context.ignored("other.md")


def test_a_missing_context_directory(tmp_path: Path) -> None:
    with pytest.raises(NotFound):
        BuildContext(str(tmp_path / "nope"))


def test_a_tar_context_is_unpacked_and_removed_on_close() -> None:
    data = io.BytesIO()
    with tarfile.open(fileobj=data, mode="w") as tar:
        info = tarfile.TarInfo("app/main.py")
        payload = b"print(1)\n"
        info.size = len(payload)
        info.uid, info.gid = os.getuid(), os.getgid()
        tar.addfile(info, io.BytesIO(payload))
        ignore = tarfile.TarInfo(".dockerignore")
        ignore.size = len(b"*.log\n")
        ignore.uid, ignore.gid = os.getuid(), os.getgid()
        tar.addfile(ignore, io.BytesIO(b"*.log\n"))
    data.seek(0)
    context = BuildContext.from_tar(data)
    try:
        assert Path(context.root, "app/main.py").read_bytes() == b"print(1)\n"
        assert context.ignored("x.log")
    finally:
        context.close()
    assert not os.path.exists(context.root)


def test_close_leaves_a_directory_context_alone(ctx: Path) -> None:
    BuildContext(str(ctx)).close()
    assert (ctx / "home.txt").exists()
