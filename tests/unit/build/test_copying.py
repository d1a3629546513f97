"""COPY/ADD into a root with Docker's rules (a directory copies its contents; a
destination ending in / is a directory; several sources go into a directory), every
path resolved inside the root. Runs as any user: files are owned by the caller."""

from __future__ import annotations

import gzip
import io
import os
import stat
import tarfile
from pathlib import Path

import pytest

from capsa.build.context import Source, destination_path, match_sources
from capsa.build.copying import (
    CopyOptions,
    RootWriter,
    archive_kind,
    archive_kind_of,
    copy_sources,
    extract_archive,
)
from capsa.errors import InvalidArgument

MINE = CopyOptions(uid=os.getuid(), gid=os.getgid())


@pytest.fixture
def ctx(tmp_path: Path) -> Path:
    root = tmp_path / "ctx"
    (root / "app/sub").mkdir(parents=True)
    (root / "app/main.py").write_text("main")
    (root / "app/sub/util.py").write_text("util")
    (root / "a.txt").write_text("a")
    (root / "b.txt").write_text("b")
    os.chmod(root / "a.txt", 0o640)
    os.utime(root / "a.txt", ns=(1_000_000_000, 1_000_000_000))
    return root


@pytest.fixture
def rootfs(tmp_path: Path) -> Path:
    root = tmp_path / "rootfs"
    (root / "etc").mkdir(parents=True)
    return root


def copy(
    ctx: Path,
    rootfs: Path,
    patterns: list[str],
    dest: str,
    workdir: str = "/",
    options: CopyOptions = MINE,
) -> None:
    sources = [s for p in patterns for s in match_sources(str(ctx), p)]
    target, as_dir = destination_path(dest, workdir)
    with RootWriter(str(rootfs)) as writer:
        copy_sources(writer, str(ctx), sources, target, as_dir, options)


def files(root: Path) -> list[str]:
    out = []
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            out.append(os.path.relpath(os.path.join(dirpath, name), root))
    return sorted(out)


# -- destination_path ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("dest", "workdir", "expected"),
    [
        ("/abs", "/app", ("/abs", False)),
        ("rel", "/app", ("/app/rel", False)),
        ("rel/", "/app", ("/app/rel", True)),
        (".", "/app", ("/app", True)),
        ("./", "/app", ("/app", True)),
        ("..", "/app/x", ("/app", True)),
        ("/x/.", "/", ("/x", True)),
        ("x", "", ("/x", False)),
        ("/a//b/../c", "/", ("/a/c", False)),
    ],
)
def test_destination_path(dest: str, workdir: str, expected: tuple[str, bool]) -> None:
    assert destination_path(dest, workdir) == expected


# -- Docker's COPY rules ---------------------------------------------------------------


def test_a_file_to_a_new_path_is_that_file(ctx: Path, rootfs: Path) -> None:
    copy(ctx, rootfs, ["a.txt"], "/opt/renamed")
    assert (rootfs / "opt/renamed").read_text() == "a"
    assert (rootfs / "opt").is_dir()  # missing parents are made


def test_a_destination_ending_in_slash_is_a_directory(ctx: Path, rootfs: Path) -> None:
    # Docker: COPY test /absoluteDir/ adds "test" to /absoluteDir/
    copy(ctx, rootfs, ["a.txt"], "/absoluteDir/")
    assert (rootfs / "absoluteDir/a.txt").read_text() == "a"


def test_a_relative_destination_is_under_workdir(ctx: Path, rootfs: Path) -> None:
    # Docker: COPY test relativeDir/ adds "test" to `WORKDIR`/relativeDir/
    copy(ctx, rootfs, ["a.txt"], "relativeDir/", workdir="/work")
    assert (rootfs / "work/relativeDir/a.txt").read_text() == "a"


def test_a_file_to_an_existing_directory_goes_inside(ctx: Path, rootfs: Path) -> None:
    copy(ctx, rootfs, ["a.txt"], "/etc")
    assert (rootfs / "etc/a.txt").read_text() == "a"


def test_a_directory_copies_its_contents_not_itself(ctx: Path, rootfs: Path) -> None:
    copy(ctx, rootfs, ["app"], "/srv")
    assert files(rootfs / "srv") == ["main.py", "sub", "sub/util.py"]


def test_a_directory_into_an_existing_one_merges(ctx: Path, rootfs: Path) -> None:
    (rootfs / "srv").mkdir()
    (rootfs / "srv/keep").write_text("k")
    copy(ctx, rootfs, ["app/"], "/srv/")
    assert files(rootfs / "srv") == ["keep", "main.py", "sub", "sub/util.py"]


def test_the_whole_context(ctx: Path, rootfs: Path) -> None:
    copy(ctx, rootfs, ["."], "/c/")
    assert "app/sub/util.py" in files(rootfs / "c") and "a.txt" in files(rootfs / "c")


def test_several_sources_go_into_a_directory(ctx: Path, rootfs: Path) -> None:
    copy(ctx, rootfs, ["a.txt", "b.txt"], "/many/")
    assert files(rootfs / "many") == ["a.txt", "b.txt"]


def test_a_glob_matching_several_files_makes_a_directory(ctx: Path, rootfs: Path) -> None:
    # Docker: with several sources the destination must be a directory
    copy(ctx, rootfs, ["*.txt"], "/glob")
    assert files(rootfs / "glob") == ["a.txt", "b.txt"]


def test_a_file_keeps_its_mode_and_mtime_and_takes_the_owner(ctx: Path, rootfs: Path) -> None:
    copy(ctx, rootfs, ["a.txt"], "/a.txt")
    st = os.stat(rootfs / "a.txt")
    assert stat.S_IMODE(st.st_mode) == 0o640
    assert st.st_mtime_ns == 1_000_000_000
    assert (st.st_uid, st.st_gid) == (os.getuid(), os.getgid())


def test_chmod_applies_to_every_path(ctx: Path, rootfs: Path) -> None:
    options = CopyOptions(uid=os.getuid(), gid=os.getgid(), chmod=0o700)
    copy(ctx, rootfs, ["app"], "/srv", options=options)
    for name in ("main.py", "sub", "sub/util.py"):
        assert stat.S_IMODE(os.stat(rootfs / "srv" / name).st_mode) == 0o700


def test_parents_keeps_each_source_path(ctx: Path, rootfs: Path) -> None:
    options = CopyOptions(uid=os.getuid(), gid=os.getgid(), parents=True)
    copy(ctx, rootfs, ["app/sub/util.py", "a.txt"], "/p/", options=options)
    assert files(rootfs / "p") == ["a.txt", "app", "app/sub", "app/sub/util.py"]


def test_hidden_paths_are_left_out_of_a_directory(ctx: Path, rootfs: Path) -> None:
    options = CopyOptions(uid=os.getuid(), gid=os.getgid(), hide=lambda p: p == "app/sub")
    copy(ctx, rootfs, ["app"], "/srv", options=options)
    assert files(rootfs / "srv") == ["main.py"]


def test_symlinks_inside_a_directory_are_copied_as_links(ctx: Path, rootfs: Path) -> None:
    (ctx / "app/link").symlink_to("main.py")
    copy(ctx, rootfs, ["app"], "/srv")
    assert os.readlink(rootfs / "srv/link") == "main.py"


def test_a_file_replaces_a_file(ctx: Path, rootfs: Path) -> None:
    (rootfs / "etc/conf").write_text("old")
    copy(ctx, rootfs, ["a.txt"], "/etc/conf")
    assert (rootfs / "etc/conf").read_text() == "a"


def test_a_directory_cannot_replace_a_file(ctx: Path, rootfs: Path) -> None:
    (rootfs / "srv").mkdir()
    (rootfs / "srv/sub").write_text("a file")
    with pytest.raises(InvalidArgument) as info:
        copy(ctx, rootfs, ["app"], "/srv")
    assert "a file is there" in info.value.message


def test_a_file_cannot_replace_a_directory(ctx: Path, rootfs: Path) -> None:
    (rootfs / "srv/main.py").mkdir(parents=True)
    with pytest.raises(InvalidArgument) as info:
        copy(ctx, rootfs, ["app"], "/srv")
    assert "a directory is there" in info.value.message


def test_a_parent_that_is_a_file_is_refused(ctx: Path, rootfs: Path) -> None:
    (rootfs / "etc/passwd").write_text("root")
    with pytest.raises(InvalidArgument) as info:
        copy(ctx, rootfs, ["a.txt"], "/etc/passwd/x/")
    assert "not a directory in the image" in info.value.message


# -- the root's own symlinks never lead outside it -------------------------------------


def test_a_link_climbing_out_of_the_root_stays_inside(
    tmp_path: Path, ctx: Path, rootfs: Path
) -> None:
    (rootfs / "up").symlink_to("../../../../../..")
    copy(ctx, rootfs, ["a.txt"], "/up/escaped.txt")
    assert (rootfs / "escaped.txt").read_text() == "a"
    assert not (tmp_path / "escaped.txt").exists()


def test_an_absolute_link_is_resolved_in_the_root(tmp_path: Path, ctx: Path, rootfs: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (rootfs / "inside" / outside.relative_to("/")).mkdir(parents=True)
    (rootfs / "jump").symlink_to(f"/inside{outside}")
    copy(ctx, rootfs, ["a.txt"], "/jump/")
    assert (rootfs / "inside" / outside.relative_to("/") / "a.txt").exists()
    assert list(outside.iterdir()) == []


# -- a source that is a symlink (BuildKit follows it, inside the context) ---------------


def test_a_linked_directory_source_copies_the_target_contents(ctx: Path, rootfs: Path) -> None:
    (ctx / "current").symlink_to("app")
    copy(ctx, rootfs, ["current"], "/srv")
    assert files(rootfs / "srv") == ["main.py", "sub", "sub/util.py"]
    assert stat.S_IMODE(os.stat(rootfs / "srv").st_mode) == stat.S_IMODE(
        os.stat(ctx / "app").st_mode
    )


def test_a_linked_file_source_copies_the_file(ctx: Path, rootfs: Path) -> None:
    (ctx / "alias").symlink_to("a.txt")
    copy(ctx, rootfs, ["alias"], "/opt/")
    assert not os.path.islink(rootfs / "opt/alias")
    assert (rootfs / "opt/alias").read_text() == "a"


# -- ADD's archives ----------------------------------------------------------------------


def tar_of(entries: dict[str, bytes]) -> bytes:
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w") as tar:
        for name, data in entries.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.uid, info.gid = os.getuid(), os.getgid()
            info.mode = 0o644
            tar.addfile(info, io.BytesIO(data))
    return out.getvalue()


def test_archive_kind(tmp_path: Path) -> None:
    plain = tar_of({"x": b"x"})
    cases = {
        "a.tar": plain,
        "a.tgz": gzip.compress(plain),
        "a.bz2": b"BZh91AY&SY",
        "a.xz": b"\xfd7zXZ\x00\x00",
        "a.zst": b"\x28\xb5\x2f\xfd\x00",
        "a.txt": b"just text",
        "a.tar.gz": b"",  # the name does not count, only the content
    }
    for name, data in cases.items():
        (tmp_path / name).write_bytes(data)
    kinds = {name: archive_kind(str(tmp_path / name)) for name in cases}
    assert kinds == {
        "a.tar": "tar",
        "a.tgz": "gzip",
        "a.bz2": "bzip2",
        "a.xz": "xz",
        "a.zst": "zstd",
        "a.txt": None,
        "a.tar.gz": None,
    }
    assert archive_kind(str(tmp_path / "missing")) is None
    assert archive_kind_of(b"") is None


@pytest.mark.parametrize("compress", ["tar", "gzip"])
def test_extract_archive_unpacks_into_the_destination(
    tmp_path: Path, rootfs: Path, compress: str
) -> None:
    data = tar_of({"pkg/bin/tool": b"#!/bin/sh\n", "README": b"r"})
    if compress == "gzip":
        data = gzip.compress(data)
    archive = tmp_path / "pkg.archive"
    archive.write_bytes(data)
    kind = archive_kind(str(archive))
    assert kind == compress
    with RootWriter(str(rootfs)) as writer:
        extract_archive(writer, str(archive), kind, "/opt/x", os.getuid(), os.getgid())
    assert (rootfs / "opt/x/pkg/bin/tool").read_bytes() == b"#!/bin/sh\n"
    assert (rootfs / "opt/x/README").read_text() == "r"


def test_a_broken_archive_is_refused(tmp_path: Path, rootfs: Path) -> None:
    archive = tmp_path / "bad.tgz"
    archive.write_bytes(b"\x1f\x8b" + b"\x00" * 64)
    with RootWriter(str(rootfs)) as writer, pytest.raises(InvalidArgument) as info:
        extract_archive(writer, str(archive), "gzip", "/opt", os.getuid(), os.getgid())
    assert "bad.tgz" in info.value.message


def test_root_writer_kind(rootfs: Path) -> None:
    (rootfs / "etc/file").write_text("x")
    with RootWriter(str(rootfs)) as writer:
        assert writer.kind("/etc") == stat.S_IFDIR
        assert writer.kind("/etc/file") == stat.S_IFREG
        assert writer.kind("/nope") is None
        writer.make_dirs("/a/b/c", os.getuid(), os.getgid())
    assert stat.S_IMODE(os.stat(rootfs / "a/b/c").st_mode) == 0o755


def test_sources_given_directly(ctx: Path, rootfs: Path) -> None:
    with RootWriter(str(rootfs)) as writer:
        copy_sources(writer, str(ctx), [Source("a.txt", False)], "/one", False, MINE)
    assert (rootfs / "one").read_text() == "a"
