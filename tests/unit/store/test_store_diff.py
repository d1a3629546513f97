"""Diff: overlay upper directories and tree comparisons to layer tars, and back through
unpack (round trips), deterministic output, readable by tarfile and GNU tar."""

from __future__ import annotations

import io
import os
import shutil
import stat
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from store_tars import members, tree

from capsa.oci.digest import Digest
from capsa.store.compression import Compression
from capsa.store.copy import copy_tree
from capsa.store.diff import Keep, diff_dirs, diff_overlay
from capsa.store.fsops import AT_FDCWD, RecordingFsOps, Stat
from capsa.store.idmap import IdMap
from capsa.store.unpack import Style, apply_layer


@pytest.fixture
def ops() -> Iterator[RecordingFsOps]:
    fake = RecordingFsOps()
    yield fake
    fake.close()


def build(root: Path, ops: RecordingFsOps) -> None:
    (root / "etc").mkdir(parents=True)
    (root / "etc/passwd").write_text("root:x:0:0\n")
    (root / "bin").mkdir()
    (root / "bin/busybox").write_bytes(b"\x7fELF" * 1000)
    os.chmod(root / "bin/busybox", 0o4755)
    os.link(root / "bin/busybox", root / "bin/ls")
    (root / "bin/sh").symlink_to("busybox")
    (root / "tmp").mkdir(mode=0o1777)
    os.chmod(root / "tmp", 0o1777)
    (root / "dev").mkdir()
    ops.mknod(AT_FDCWD, os.fsencode(root / "dev/null"), stat.S_IFCHR | 0o666, os.makedev(1, 3))
    os.mkfifo(root / "dev/fifo")
    ops.chown(AT_FDCWD, os.fsencode(root / "etc/passwd"), 0, 42)
    ops.setxattr(AT_FDCWD, os.fsencode(root / "bin/busybox"), b"security.capability", b"\x01\x02")
    (root / "d").mkdir()
    (root / "d" / ("long" * 40)).write_text("long name")
    for path in sorted(root.rglob("*"), reverse=True):
        os.utime(path, ns=(1_500_000_000_000_000_000,) * 2, follow_symlinks=False)


def summary(root: Path, ops: RecordingFsOps) -> dict[str, tuple[object, ...]]:
    result: dict[str, tuple[object, ...]] = {}
    for path in sorted(root.rglob("*")):
        st = ops.lstat_path(path)
        content = path.read_bytes() if stat.S_ISREG(st.mode) else b""
        target = os.readlink(path) if stat.S_ISLNK(st.mode) else ""
        rel = str(path.relative_to(root))
        result[rel] = (
            oct(st.mode),
            st.uid,
            st.gid,
            st.rdev,
            content,
            target,
            ops.xattrs_of(path),
            st.mtime_ns if not stat.S_ISDIR(st.mode) else None,
        )
    return result


def test_full_tree_round_trip(tmp_path: Path, ops: RecordingFsOps) -> None:
    source = tmp_path / "source"
    build(source, ops)
    out = io.BytesIO()
    result = diff_dirs(None, source, out.write, ops=ops)
    data = out.getvalue()
    assert result.diff_id == Digest.of(data) == result.digest
    target = tmp_path / "target"
    target.mkdir()
    unpacked = apply_layer(io.BytesIO(data), target, ops=ops)
    assert unpacked.diff_id == result.diff_id
    assert summary(target, ops) == summary(source, ops)
    assert (target / "bin/ls").stat().st_ino == (target / "bin/busybox").stat().st_ino
    names = [m.name for m in members(data)]
    assert names == sorted(names, key=lambda n: n.encode())  # directories before contents


def test_output_is_deterministic_and_mtime_can_be_fixed(
    tmp_path: Path, ops: RecordingFsOps
) -> None:
    source = tmp_path / "source"
    build(source, ops)
    first, second = io.BytesIO(), io.BytesIO()
    diff_dirs(None, source, first.write, ops=ops, mtime=1234)
    os.utime(source / "etc/passwd")  # a different mtime no longer matters
    diff_dirs(None, source, second.write, ops=ops, mtime=1234)
    assert first.getvalue() == second.getvalue()
    entries = members(first.getvalue())
    assert {member.mtime for member in entries} == {1234}
    assert {member.uname for member in entries} == {""}
    clamped = io.BytesIO()
    diff_dirs(None, source, clamped.write, ops=ops, mtime=2_000_000_000, clamp_mtime=True)
    times = {m.name: m.mtime for m in members(clamped.getvalue())}
    assert times["bin/busybox"] == 1_500_000_000


def test_gnu_tar_reads_the_output(tmp_path: Path, ops: RecordingFsOps) -> None:
    if shutil.which("tar") is None:
        pytest.skip("no tar")
    source = tmp_path / "source"
    build(source, ops)
    archive = tmp_path / "layer.tar"
    with archive.open("wb") as handle:
        diff_dirs(None, source, handle.write, ops=ops)
    listing = subprocess.run(
        ["tar", "-tf", str(archive)], check=True, capture_output=True, text=True
    ).stdout.split()
    assert "bin/busybox" in listing and f"d/{'long' * 40}" in listing


@pytest.mark.parametrize("kind", [Compression.GZIP, Compression.ZSTD])
def test_compressed_output(tmp_path: Path, ops: RecordingFsOps, kind: Compression) -> None:
    source = tmp_path / "source"
    build(source, ops)
    plain, packed = io.BytesIO(), io.BytesIO()
    plain_result = diff_dirs(None, source, plain.write, ops=ops)
    result = diff_dirs(None, source, packed.write, ops=ops, compression=kind)
    assert result.diff_id == plain_result.diff_id
    assert result.digest == Digest.of(packed.getvalue())
    assert result.compressed_size == len(packed.getvalue()) < result.size
    target = tmp_path / "t"
    target.mkdir()
    unpacked = apply_layer(io.BytesIO(packed.getvalue()), target, ops=ops)
    assert unpacked.compression is kind and unpacked.diff_id == result.diff_id
    again = io.BytesIO()
    diff_dirs(None, source, again.write, ops=ops, compression=kind)
    assert again.getvalue() == packed.getvalue()  # compressed output is reproducible too


def test_compare_round_trip(tmp_path: Path, ops: RecordingFsOps) -> None:
    lower = tmp_path / "lower"
    build(lower, ops)
    (lower / "var/cache").mkdir(parents=True)
    (lower / "var/cache/x").write_text("x")
    upper = tmp_path / "upper"
    upper.mkdir()
    copy_tree(lower, upper, ops=ops)
    assert summary(upper, ops) == summary(lower, ops)
    # the change
    (upper / "etc/passwd").write_text("root:x:0:0\nuser:x:1000:1000\n")
    shutil.rmtree(upper / "var/cache")
    (upper / "bin/sh").unlink()
    (upper / "bin/sh").symlink_to("/bin/busybox")
    (upper / "new/deep").mkdir(parents=True)
    (upper / "new/deep/file").write_text("new")
    out = io.BytesIO()
    diff_dirs(lower, upper, out.write, ops=ops)
    names = [m.name for m in members(out.getvalue())]
    assert "var/.wh.cache" in names
    assert "etc/passwd" in names and "bin/sh" in names and "new/deep/file" in names
    assert "bin/busybox" not in names  # unchanged
    assert "tmp" not in names
    assert "etc" in names  # parents of changes are included
    applied = tmp_path / "applied"
    applied.mkdir()
    copy_tree(lower, applied, ops=ops)
    apply_layer(io.BytesIO(out.getvalue()), applied, ops=ops)
    assert tree(applied) == tree(upper)


def test_overlay_upper_round_trip(tmp_path: Path, ops: RecordingFsOps) -> None:
    upper = tmp_path / "upper"
    (upper / "etc/conf.d").mkdir(parents=True)
    (upper / "etc/conf.d/new").write_text("n")
    ops.setxattr(AT_FDCWD, os.fsencode(upper / "etc/conf.d"), b"trusted.overlay.opaque", b"y")
    ops.mknod(AT_FDCWD, os.fsencode(upper / "etc/hosts"), stat.S_IFCHR, 0)
    (upper / "etc/hostname").write_text("box")
    out = io.BytesIO()
    result = diff_overlay(upper, out.write, ops=ops)
    by_name = {m.name: m for m in members(out.getvalue())}
    assert sorted(by_name) == [
        "etc",
        "etc/.wh.hosts",
        "etc/conf.d",
        "etc/conf.d/.wh..wh..opq",
        "etc/conf.d/new",
        "etc/hostname",
    ]
    assert "SCHILY.xattr.trusted.overlay.opaque" not in by_name["etc/conf.d"].pax_headers
    assert result.entries == 6
    # back into an overlay upper: the same whiteout device and opaque directory
    again = tmp_path / "again"
    again.mkdir()
    apply_layer(io.BytesIO(out.getvalue()), again, style=Style.OVERLAY, ops=ops)
    assert ops.lstat_path(again / "etc/hosts").is_whiteout
    assert ops.xattrs_of(again / "etc/conf.d") == {b"trusted.overlay.opaque": b"y"}
    assert (again / "etc/hostname").read_text() == "box"


def _mount_points(name: bytes, st: Stat) -> Keep:
    """Leave out empty files called `hosts`; write `etc` and `proc` only when needed."""
    if name in (b"etc", b"proc"):
        return Keep.IF_NEEDED
    if name.endswith(b"hosts") and st.size == 0:
        return Keep.SKIP
    return Keep.WRITE


def test_overlay_select_skips_entries_and_defers_directories(
    tmp_path: Path, ops: RecordingFsOps
) -> None:
    upper = tmp_path / "upper"
    (upper / "etc").mkdir(parents=True)
    (upper / "etc/hosts").write_text("")
    (upper / "proc").mkdir()
    (upper / "root").mkdir()
    (upper / "root/x").write_text("x")
    out = io.BytesIO()
    result = diff_overlay(upper, out.write, ops=ops, select=_mount_points)
    assert [m.name for m in members(out.getvalue())] == ["root", "root/x"]
    assert result.entries == 2
    # a deferred directory is written once something in it is, a whiteout too
    (upper / "etc/passwd").write_text("p")
    ops.mknod(AT_FDCWD, os.fsencode(upper / "proc/gone"), stat.S_IFCHR, 0)
    out = io.BytesIO()
    diff_overlay(upper, out.write, ops=ops, select=_mount_points)
    assert [m.name for m in members(out.getvalue())] == [
        "etc",
        "etc/passwd",
        "proc",
        "proc/.wh.gone",
        "root",
        "root/x",
    ]


def test_dirs_select_applies_to_new_and_changed_entries(
    tmp_path: Path, ops: RecordingFsOps
) -> None:
    lower = tmp_path / "lower"
    (lower / "etc").mkdir(parents=True)
    (lower / "etc/passwd").write_text("p")
    upper = tmp_path / "upper"
    upper.mkdir()
    copy_tree(lower, upper, ops=ops)
    (upper / "etc/hosts").write_text("")  # new, left out
    os.utime(upper / "etc", ns=(1, 1))  # changed, but written only as a parent
    (upper / "proc").mkdir()  # new, and nothing in it
    (upper / "new").mkdir()
    (upper / "new/hosts").write_text("")
    (upper / "new/file").write_text("f")
    out = io.BytesIO()
    diff_dirs(lower, upper, out.write, ops=ops, select=_mount_points)
    assert [m.name for m in members(out.getvalue())] == ["new", "new/file"]
    out = io.BytesIO()
    diff_dirs(None, upper, out.write, ops=ops, select=_mount_points)
    assert [m.name for m in members(out.getvalue())] == [
        "etc",
        "etc/passwd",
        "new",
        "new/file",
    ]


def test_id_mapping_back_to_container_ids(tmp_path: Path, ops: RecordingFsOps) -> None:
    root = tmp_path / "r"
    root.mkdir()
    (root / "f").write_text("x")
    ops.chown(AT_FDCWD, os.fsencode(root / "f"), 101000, 100005)
    out = io.BytesIO()
    diff_dirs(None, root, out.write, ops=ops, id_map=IdMap.single(100000, 100000))
    member = next(m for m in members(out.getvalue()) if m.name == "f")
    assert (member.uid, member.gid) == (1000, 5)
