"""Layer unpack against crafted tarballs: every entry type, both whiteout styles, every
refused path, compression by magic bytes, diff ID checks. Root-only operations go
through RecordingFsOps, so these run unprivileged."""

from __future__ import annotations

import hashlib
import io
import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest
from store_tars import (
    MTIME,
    Member,
    compress,
    dir_,
    link,
    node,
    reg,
    sym,
    tar_bytes,
    tree,
)

from capsa.errors import AlreadyExists, InvalidArgument
from capsa.oci.digest import Digest
from capsa.store.compression import Compression
from capsa.store.errors import DigestMismatch, LayerRefused
from capsa.store.fsops import RecordingFsOps
from capsa.store.idmap import IdMap
from capsa.store.layerformat import USER_OPAQUE_XATTR, Style
from capsa.store.unpack import UnpackResult, apply_layer, unpack_layer


@pytest.fixture
def ops() -> Iterator[RecordingFsOps]:
    fake = RecordingFsOps()
    yield fake
    fake.close()


def apply(target: Path, data: bytes, ops: RecordingFsOps, **kwargs: object) -> UnpackResult:
    target.mkdir(exist_ok=True)
    return apply_layer(io.BytesIO(data), target, ops=ops, layer="sha256:test", **kwargs)  # type: ignore[arg-type]


def test_every_entry_type(tmp_path: Path, ops: RecordingFsOps) -> None:
    cap = b"\x01\x00\x00\x02\x00\x20\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00"
    layer = tar_bytes(
        dir_("etc", mode=0o755, mtime=1000),
        reg("etc/passwd", b"root:x:0:0::/root:/bin/sh\n", mode=0o644, mtime=2000),
        reg("bin/ping", b"\x7fELF", mode=0o4755, uid=0, gid=0, xattrs={"security.capability": cap}),
        dir_("tmp", mode=0o1777),
        sym("bin/sh", "busybox", uid=5, gid=6),
        reg("bin/busybox", b"bb", mode=0o755, uid=1000, gid=1000),
        link("bin/ls", "bin/busybox"),
        node("dev/null", "char", 1, 3, mode=0o666),
        node("dev/sda", "block", 8, 0, mode=0o660, uid=6),
        node("run/fifo", "fifo", mode=0o620),
        reg("big", os.urandom(3 * (1 << 20) + 5)),
    )
    target = tmp_path / "root"
    result = apply(target, layer, ops)
    assert result.diff_id == Digest.of(layer)
    assert result.size == len(layer)
    assert result.compression is Compression.NONE
    assert result.entries == 11
    assert (target / "etc/passwd").read_bytes().startswith(b"root:")
    assert (target / "etc").stat().st_mtime == 1000  # set after its contents
    assert (target / "etc/passwd").stat().st_mtime == 2000
    assert stat.S_IMODE((target / "bin/ping").stat().st_mode) == 0o4755
    assert stat.S_IMODE((target / "tmp").stat().st_mode) == 0o1777
    assert os.readlink(target / "bin/sh") == "busybox"
    assert (target / "bin/ls").stat().st_ino == (target / "bin/busybox").stat().st_ino
    assert stat.S_ISFIFO((target / "run/fifo").lstat().st_mode)
    assert stat.S_IMODE((target / "run/fifo").lstat().st_mode) == 0o620
    null = ops.lstat_path(target / "dev/null")
    assert stat.S_ISCHR(null.mode) and null.rdev == os.makedev(1, 3)
    assert stat.S_IMODE(null.mode) == 0o666
    sda = ops.lstat_path(target / "dev/sda")
    assert stat.S_ISBLK(sda.mode) and sda.rdev == os.makedev(8, 0) and sda.uid == 6
    assert ops.xattrs_of(target / "bin/ping") == {b"security.capability": cap}
    busybox = ops.lstat_path(target / "bin/busybox")
    assert (busybox.uid, busybox.gid) == (1000, 1000)
    link_st = ops.lstat_path(target / "bin/sh")
    assert (link_st.uid, link_st.gid) == (5, 6)
    assert (target / "bin/sh").lstat().st_mtime == MTIME
    # implicit parents are 0755
    assert stat.S_IMODE((target / "dev").stat().st_mode) == 0o755


@pytest.mark.parametrize("kind", ["none", "gzip", "zstd", "bzip2", "xz"])
def test_compression_is_detected_by_magic(tmp_path: Path, ops: RecordingFsOps, kind: str) -> None:
    layer = tar_bytes(reg("a", b"A" * 100_000), reg("b/c", b"C"))
    result = apply(tmp_path / "t", compress(layer, kind), ops)
    assert result.diff_id == Digest.of(layer)
    assert result.compression.value == kind
    assert (tmp_path / "t/a").read_bytes() == b"A" * 100_000


def test_unthreaded_gives_the_same_result(tmp_path: Path, ops: RecordingFsOps) -> None:
    layer = compress(tar_bytes(reg("a", b"x" * 5000), dir_("d")), "gzip")
    first = apply(tmp_path / "1", layer, ops)
    second = apply(tmp_path / "2", layer, ops, threaded=False)
    assert first.diff_id == second.diff_id
    assert tree(tmp_path / "1") == tree(tmp_path / "2")


def test_trailing_bytes_count_in_the_diff_id(tmp_path: Path, ops: RecordingFsOps) -> None:
    layer = tar_bytes(reg("a", b"x")) + bytes(10240)
    assert apply(tmp_path / "t", layer, ops).diff_id == Digest.of(layer)


def test_empty_stream_is_an_empty_layer(tmp_path: Path, ops: RecordingFsOps) -> None:
    result = apply(tmp_path / "t", b"", ops)
    assert result.diff_id == Digest("sha256", hashlib.sha256(b"").hexdigest())
    assert result.entries == 0


def test_expected_diff_id(tmp_path: Path, ops: RecordingFsOps) -> None:
    layer = tar_bytes(reg("a", b"x"))
    apply(tmp_path / "ok", layer, ops, expected_diff_id=Digest.of(layer))
    dest = tmp_path / "dest"
    with pytest.raises(DigestMismatch, match="diff ID"):
        unpack_layer(io.BytesIO(layer), dest, ops=ops, expected_diff_id=Digest.of(b"other"))
    assert os.listdir(tmp_path) == ["ok"]


def test_unpack_layer_renames_into_place(tmp_path: Path, ops: RecordingFsOps) -> None:
    dest = tmp_path / "layer"
    unpack_layer(io.BytesIO(tar_bytes(reg("a/b", b"x"))), dest, ops=ops)
    assert (dest / "a/b").read_bytes() == b"x"
    assert stat.S_IMODE(dest.stat().st_mode) == 0o755
    with pytest.raises(AlreadyExists):
        unpack_layer(io.BytesIO(tar_bytes(reg("a/b", b"x"))), dest, ops=ops)
    assert os.listdir(tmp_path) == ["layer"]


# -- refused entries ---------------------------------------------------------------------

REFUSED: dict[str, tuple[tuple[Member, ...], str]] = {
    "dotdot": ((reg("../evil", b"x"),), "'..'"),
    "dotdot-inside": ((dir_("a"), reg("a/../../evil", b"x")), "'..'"),
    "absolute": ((reg("/etc/evil", b"x"),), "absolute"),
    "symlink-then-write": (
        (sym("escape", "/tmp"), reg("escape/evil", b"x")),
        "symlink",
    ),
    "relative-symlink-then-write": (
        (sym("up", "../.."), reg("up/evil", b"x")),
        "symlink",
    ),
    "symlink-to-dot": ((sym("self", "."), reg("self/self/evil", b"x")), "symlink"),
    "symlink-then-mkdir": ((sym("escape", "/tmp"), dir_("escape/newdir")), "symlink"),
    "symlink-then-whiteout": ((sym("escape", "/tmp"), reg("escape/.wh.victim")), "symlink"),
    "symlink-then-hardlink": (
        (reg("f", b"x"), sym("escape", "/tmp"), link("escape/evil", "f")),
        "symlink",
    ),
    "hardlink-outside": ((link("evil", "../../etc/passwd"),), "'..'"),
    "hardlink-absolute": ((link("evil", "/etc/passwd"),), "absolute"),
    "hardlink-through-symlink": (
        (sym("etc", "/etc"), link("evil", "etc/passwd")),
        "not an earlier entry",
    ),
    "hardlink-not-in-layer": ((link("evil", "etc/shadow"),), "not an earlier entry"),
    "hardlink-to-dir": ((dir_("d"), link("evil", "d")), "directory"),
    "hardlink-to-itself": ((link("x", "x"),), "itself"),
    "file-as-parent": ((reg("f", b"x"), reg("f/child", b"y")), "not a directory"),
    "whiteout-dotdot": ((reg(".wh..."),), "'..'"),
    "root-as-file": ((reg(".", b"x"),), "must be a directory"),
}


@pytest.mark.parametrize("case", sorted(REFUSED))
def test_unsafe_entries_are_refused_and_nothing_is_left(
    tmp_path: Path, ops: RecordingFsOps, case: str
) -> None:
    members, reason = REFUSED[case]
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "victim").write_text("keep")
    dest = tmp_path / "store" / "layer"
    dest.parent.mkdir()
    with pytest.raises(LayerRefused) as caught:
        unpack_layer(io.BytesIO(tar_bytes(*members)), dest, ops=ops, layer="sha256:abc")
    message = str(caught.value)
    assert "sha256:abc" in message and reason in message
    assert isinstance(caught.value, InvalidArgument)
    assert os.listdir(dest.parent) == []  # no temporary directory left, no dest
    assert tree(outside) == {"victim": "file 644 b'keep'"}


def test_refused_message_names_the_entry(tmp_path: Path, ops: RecordingFsOps) -> None:
    with pytest.raises(LayerRefused) as caught:
        apply(tmp_path / "t", tar_bytes(sym("x", "/etc"), reg("x/passwd", b"")), ops)
    assert caught.value.entry == "x/passwd"
    assert caught.value.layer == "sha256:test"


def test_symlink_replaced_by_a_file_is_not_followed(tmp_path: Path, ops: RecordingFsOps) -> None:
    outside = tmp_path / "outside"
    outside.write_text("keep")
    target = tmp_path / "t"
    apply(target, tar_bytes(sym("x", str(outside)), reg("x", b"new")), ops)
    assert outside.read_text() == "keep"
    assert (target / "x").read_bytes() == b"new" and not (target / "x").is_symlink()


def test_write_through_symlink_already_in_target_is_refused(
    tmp_path: Path, ops: RecordingFsOps
) -> None:
    target = tmp_path / "t"
    target.mkdir()
    (target / "lib").symlink_to(tmp_path)
    with pytest.raises(LayerRefused, match="symlink"):
        apply(target, tar_bytes(reg("lib/evil", b"x")), ops)
    assert not (tmp_path / "evil").exists()


def test_malformed_archives_are_refused(tmp_path: Path, ops: RecordingFsOps) -> None:
    layer = tar_bytes(reg("a", b"x" * 2000))
    with pytest.raises(LayerRefused, match="truncated"):
        apply(tmp_path / "1", layer[:1000], ops)
    broken = bytearray(layer)
    broken[0] ^= 0xFF
    with pytest.raises(LayerRefused, match="checksum"):
        apply(tmp_path / "2", bytes(broken), ops)
    with pytest.raises(LayerRefused, match="truncated"):
        apply(tmp_path / "3", compress(layer, "gzip")[:-30], ops)
    with pytest.raises(LayerRefused, match="after the end"):
        apply(tmp_path / "4", compress(layer, "gzip") + b"garbage!", ops)
    with pytest.raises(LayerRefused, match="checksum"):
        apply(tmp_path / "5", b"this is not a tar archive at all" * 40, ops)
    for kind in ("gzip", "bzip2", "xz"):  # (a zstd frame without a checksum cannot tell)
        packed = bytearray(compress(tar_bytes(reg("a", os.urandom(50_000))), kind))
        packed[len(packed) // 2] ^= 0xFF
        with pytest.raises(LayerRefused, match=f"{kind}|tar|checksum"):
            apply(tmp_path / f"6-{kind}", bytes(packed), ops)


def test_concatenated_gzip_members_and_zero_padding(tmp_path: Path, ops: RecordingFsOps) -> None:
    layer = tar_bytes(reg("a", b"x" * 3000), reg("b", b"y"))
    middle = len(layer) // 2
    data = compress(layer[:middle], "gzip") + compress(layer[middle:], "gzip") + bytes(512)
    assert apply(tmp_path / "t", data, ops).diff_id == Digest.of(layer)


def test_overlay_xattrs_in_a_layer_are_dropped(tmp_path: Path, ops: RecordingFsOps) -> None:
    layer = tar_bytes(
        reg("f", b"x", xattrs={"trusted.overlay.redirect": b"/etc", "user.keep": b"1"})
    )
    result = apply(tmp_path / "t", layer, ops)
    assert ops.xattrs_of(tmp_path / "t/f") == {b"user.keep": b"1"}
    assert any("trusted.overlay.redirect" in warning for warning in result.warnings)


def test_id_mapping(tmp_path: Path, ops: RecordingFsOps) -> None:
    mapping = IdMap.single(100000, 200000, 65536)
    layer = tar_bytes(reg("a/f", b"x", uid=1000, gid=1001))
    apply(tmp_path / "t", layer, ops, id_map=mapping)
    f = ops.lstat_path(tmp_path / "t/a/f")
    assert (f.uid, f.gid) == (101000, 201001)
    implicit = ops.lstat_path(tmp_path / "t/a")
    assert (implicit.uid, implicit.gid) == (100000, 200000)
    with pytest.raises(LayerRefused, match="not mapped"):
        apply(tmp_path / "u", tar_bytes(reg("f", b"x", uid=70000)), ops, id_map=mapping)


def test_unprivileged_device_nodes_are_skipped_with_a_warning(
    tmp_path: Path, ops: RecordingFsOps, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    ops.fail_mknod = 1  # EPERM
    result = apply(tmp_path / "t", tar_bytes(node("dev/null", "char", 1, 3), reg("f")), ops)
    assert not (tmp_path / "t/dev/null").exists()
    assert (tmp_path / "t/f").exists()
    assert any("device node skipped" in warning for warning in result.warnings)


def test_later_entries_replace_earlier_ones(tmp_path: Path, ops: RecordingFsOps) -> None:
    layer = tar_bytes(
        reg("a", b"first"),
        reg("a", b"second"),
        dir_("d"),
        reg("d/f", b"x"),
        reg("d", b"now a file"),
        dir_("e", mode=0o700),
        dir_("e", mode=0o755),
    )
    target = tmp_path / "t"
    apply(target, layer, ops)
    assert tree(target) == {
        "a": "file 644 b'second'",
        "d": "file 644 b'now a file'",
        "e": "dir 755",
    }


def test_root_entry_sets_root_attributes(tmp_path: Path, ops: RecordingFsOps) -> None:
    apply(tmp_path / "t", tar_bytes(dir_("./", mode=0o750, mtime=5), reg("./a", b"x")), ops)
    st = (tmp_path / "t").stat()
    assert stat.S_IMODE(st.st_mode) == 0o750 and st.st_mtime == 5


def test_long_names_and_non_ascii(tmp_path: Path, ops: RecordingFsOps) -> None:
    long_dir = "d" * 120
    name = f"{long_dir}/{'f' * 200}"
    layer = tar_bytes(reg(name, b"x"), reg("café/ünïcödé", b"y"), sym("l", "t" * 300))
    target = tmp_path / "t"
    apply(target, layer, ops)
    assert (target / name).read_bytes() == b"x"
    assert (target / "café/ünïcödé").read_bytes() == b"y"
    assert os.readlink(target / "l") == "t" * 300


# -- whiteouts ---------------------------------------------------------------------------


def lower_tree(root: Path) -> None:
    (root / "etc/conf.d").mkdir(parents=True)
    (root / "etc/conf.d/a").write_text("a")
    (root / "etc/conf.d/b").write_text("b")
    (root / "etc/hosts").write_text("hosts")
    (root / "var/log").mkdir(parents=True)
    (root / "var/log/old").write_text("old")
    (root / "usr/bin").mkdir(parents=True)
    (root / "bin").symlink_to("usr/bin")


def test_whiteouts_in_apply_style(tmp_path: Path, ops: RecordingFsOps) -> None:
    target = tmp_path / "t"
    target.mkdir()
    lower_tree(target)
    layer = tar_bytes(
        reg("etc/.wh.hosts"),
        reg("etc/conf.d/.wh..wh..opq"),
        reg("etc/conf.d/new", b"n"),
        reg("var/log/new", b"kept"),  # added by this layer before its own whiteout...
        reg("var/.wh.log"),  # ...which only hides what lower layers had
        reg("usr/.wh.bin"),
    )
    apply(target, layer, ops)
    assert tree(target) == {
        "bin": "link usr/bin",
        "etc": "dir 755",
        "etc/conf.d": "dir 755",
        "etc/conf.d/new": "file 644 b'n'",
        "usr": "dir 755",
        "var": "dir 755",
        "var/log": "dir 755",
        "var/log/new": "file 644 b'kept'",
    }


def test_opaque_marker_after_new_entries_keeps_them(tmp_path: Path, ops: RecordingFsOps) -> None:
    target = tmp_path / "t"
    target.mkdir()
    lower_tree(target)
    layer = tar_bytes(reg("etc/conf.d/new", b"n"), reg("etc/conf.d/.wh..wh..opq"))
    apply(target, layer, ops)
    assert sorted(os.listdir(target / "etc/conf.d")) == ["new"]


def test_whiteouts_in_overlay_style(tmp_path: Path, ops: RecordingFsOps) -> None:
    lower = tmp_path / "lower"
    lower.mkdir()
    lower_tree(lower)
    os.chmod(lower / "var", 0o750)
    os.utime(lower / "var", ns=(7_000_000_000, 7_000_000_000))
    upper = tmp_path / "upper"
    layer = tar_bytes(
        reg("etc/.wh.hosts"),
        reg("etc/conf.d/.wh..wh..opq"),
        reg("etc/conf.d/new", b"n"),
        reg("var/.wh.log"),
        reg("var/log/fresh", b"f"),  # a new directory where the layer whited one out
        reg("usr/.wh.bin"),
    )
    apply(upper, layer, ops, style=Style.OVERLAY, lowers=[lower])
    hosts = ops.lstat_path(upper / "etc/hosts")
    assert stat.S_ISCHR(hosts.mode) and hosts.rdev == 0
    assert ops.xattrs_of(upper / "etc/conf.d") == {b"trusted.overlay.opaque": b"y"}
    assert (upper / "var/log/fresh").read_bytes() == b"f"
    assert ops.xattrs_of(upper / "var/log") == {b"trusted.overlay.opaque": b"y"}
    assert ops.lstat_path(upper / "usr/bin").is_whiteout
    # implicit parents look like the lower layer's directories
    var = (upper / "var").stat()
    assert stat.S_IMODE(var.st_mode) == 0o750 and var.st_mtime_ns == 7_000_000_000
    assert not (upper / "etc/conf.d/a").exists()  # lower content is not copied


def test_overlay_whiteout_then_directory_entry_is_opaque(
    tmp_path: Path, ops: RecordingFsOps
) -> None:
    lower = tmp_path / "lower"
    (lower / "d").mkdir(parents=True)
    (lower / "d/old").write_text("x")
    upper = tmp_path / "upper"
    apply(upper, tar_bytes(reg(".wh.d"), dir_("d"), reg("d/new")), ops, style=Style.OVERLAY,
          lowers=[lower])  # fmt: skip
    assert ops.lstat_path(upper / "d").is_dir
    assert ops.xattrs_of(upper / "d") == {b"trusted.overlay.opaque": b"y"}
    # a whiteout after this layer's own directory makes it opaque rather than deleting it
    upper2 = tmp_path / "upper2"
    apply(upper2, tar_bytes(dir_("d"), reg("d/new"), reg(".wh.d")), ops, style=Style.OVERLAY,
          lowers=[lower])  # fmt: skip
    assert (upper2 / "d/new").exists()
    assert ops.xattrs_of(upper2 / "d") == {b"trusted.overlay.opaque": b"y"}


def test_overlay_for_userxattr_marks_opaque_with_user_xattrs(
    tmp_path: Path, ops: RecordingFsOps
) -> None:
    # overlay mounted with `userxattr` (rootless) reads user.overlay.*, not trusted.*
    lower = tmp_path / "lower"
    (lower / "d").mkdir(parents=True)
    (lower / "d/old").write_text("x")
    upper = tmp_path / "upper"
    apply(upper, tar_bytes(reg("d/.wh..wh..opq"), reg("d/new")), ops, style=Style.OVERLAY,
          lowers=[lower], opaque_xattr=USER_OPAQUE_XATTR)  # fmt: skip
    assert ops.xattrs_of(upper / "d") == {b"user.overlay.opaque": b"y"}


def test_overlay_refuses_paths_through_a_lower_symlink(tmp_path: Path, ops: RecordingFsOps) -> None:
    lower = tmp_path / "lower"
    lower.mkdir()
    lower_tree(lower)
    (lower / "escape").symlink_to("/tmp")
    with pytest.raises(LayerRefused, match="symlink in a lower layer"):
        apply(tmp_path / "u1", tar_bytes(reg("escape/evil", b"x")), ops, style=Style.OVERLAY,
              lowers=[lower])  # fmt: skip
    with pytest.raises(LayerRefused, match="symlink in a lower layer"):
        apply(tmp_path / "u2", tar_bytes(reg("bin/tool", b"x")), ops, style=Style.OVERLAY,
              lowers=[lower])  # fmt: skip
    with pytest.raises(LayerRefused, match="not a directory in a lower layer"):
        apply(tmp_path / "u3", tar_bytes(reg("etc/hosts/x", b"x")), ops, style=Style.OVERLAY,
              lowers=[lower])  # fmt: skip
    # replacing the symlink with a directory first is allowed
    apply(tmp_path / "u4", tar_bytes(dir_("bin"), reg("bin/tool", b"x")), ops,
          style=Style.OVERLAY, lowers=[lower])  # fmt: skip
    assert (tmp_path / "u4/bin/tool").exists()


def test_overlay_lookup_merges_lower_layers(tmp_path: Path, ops: RecordingFsOps) -> None:
    top, bottom = tmp_path / "top", tmp_path / "bottom"
    (bottom / "a/b").mkdir(parents=True)
    (bottom / "gone").symlink_to("/")
    top.mkdir()
    (top / "a").mkdir()
    ops.mknod(-100, os.fsencode(top / "gone"), stat.S_IFCHR, 0)  # top whites out the symlink
    os.chmod(bottom / "a/b", 0o711)
    upper = tmp_path / "upper"
    apply(upper, tar_bytes(reg("a/b/f", b"x"), reg("gone/f", b"y")), ops, style=Style.OVERLAY,
          lowers=[top, bottom])  # fmt: skip
    assert stat.S_IMODE((upper / "a/b").stat().st_mode) == 0o711
    assert (upper / "gone/f").read_bytes() == b"y"


def test_hard_link_to_a_symlink_links_the_symlink_itself(
    tmp_path: Path, ops: RecordingFsOps
) -> None:
    outside = tmp_path / "outside"
    outside.write_text("keep")
    target = tmp_path / "t"
    apply(target, tar_bytes(sym("s", str(outside)), link("h", "s")), ops)
    assert os.readlink(target / "h") == str(outside)
    assert (target / "h").lstat().st_ino == (target / "s").lstat().st_ino
    assert outside.read_text() == "keep" and outside.stat().st_nlink == 1


@pytest.mark.parametrize("layer", ["plain", "replacements"])
def test_writer_threads_give_the_same_tree(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, layer: str
) -> None:
    import capsa.store.unpack as unpack_module

    if layer == "plain":
        members = [dir_("a"), *(reg(f"a/{i}", b"x" * i) for i in range(400))]
        members += [reg("a/7", b"again"), link("a/hard", "a/9"), sym("a/sym", "9")]
        members += [reg("b"), dir_("c"), reg("c/1", b"1"), reg(".wh.c"), dir_("a/10")]
        members += [reg("a/10/in", b"in"), reg("a/11"), dir_("a/11")]
        data = tar_bytes(*members)
    else:
        members = [dir_("d"), *(reg(f"d/f{i}", b"%d" % i) for i in range(300))]
        members += [reg("d/f1", b"rewritten"), link("d/hard", "d/f2"), sym("d/f4", "f1")]
        members += [dir_("e"), reg("e/1"), reg("e/2"), reg("e"), reg("d/.wh.f5")]
        data = tar_bytes(*members)
    me = (os.geteuid(), os.getegid())
    inline = tmp_path / "inline"
    inline.mkdir()
    apply_layer(io.BytesIO(data), inline, id_map=lambda u, g: me, threaded=False)
    monkeypatch.setattr(unpack_module, "_SLOW_CREATE", 0.0)  # writers, whatever the disk
    monkeypatch.setattr(unpack_module, "_MAX_PENDING", 8)  # and their queue full
    threads = tmp_path / "threads"
    threads.mkdir()
    result = apply_layer(io.BytesIO(data), threads, id_map=lambda u, g: me)
    assert tree(threads) == tree(inline)
    assert result.entries == len(members)
    assert os.stat(threads / ("a/hard" if layer == "plain" else "d/hard")).st_nlink == 2
