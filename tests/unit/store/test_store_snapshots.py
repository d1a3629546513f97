"""The shared snapshotter suite on overlay and vfs, without mounts (privileged file
operations faked), and what only one of them does."""

from __future__ import annotations

import stat
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from snapshot_suite import CHECKS, Env, commit_layer

from capsa.errors import InvalidArgument
from capsa.store.fsops import AT_FDCWD, RecordingFsOps
from capsa.store.layerformat import Style
from capsa.store.snapshots import Mount, OverlaySnapshotter, VfsSnapshotter


@pytest.fixture
def ops() -> Iterator[RecordingFsOps]:
    fake = RecordingFsOps()
    yield fake
    fake.close()


@pytest.mark.parametrize("driver", ["overlay", "vfs"])
@pytest.mark.parametrize("check", CHECKS, ids=lambda check: check.__name__.removeprefix("check_"))
def test_snapshotter(
    driver: str, check: Callable[[Env], None], tmp_path: Path, ops: RecordingFsOps
) -> None:
    check(Env(driver, tmp_path, ops, mounter=None))


def test_overlay_mount_shapes(tmp_path: Path) -> None:
    s = OverlaySnapshotter(tmp_path / "o")
    env = Env("overlay", tmp_path, None, None)
    [bind] = s.prepare("lonely")
    assert bind == Mount("bind", str(s.root / "snapshots/1/fs"), ("rbind", "rw"))
    commit_layer(env, s, "l1", None, {"a": "1"})
    commit_layer(env, s, "l2", "l1", {"b": "2"})
    commit_layer(env, s, "l3", "l2", {"c": "3"})
    ids = {key: s._row(key)["id"] for key in ("l1", "l2", "l3")}
    [overlay] = s.prepare("c", "l3")
    assert overlay.type == "overlay" and overlay.source == "overlay"
    assert overlay.option("lowerdir") == ":".join(
        str(s.root / "snapshots" / str(ids[key]) / "fs") for key in ("l3", "l2", "l1")
    )
    assert overlay.option("index") == "off" or "index=off" not in s.options
    assert not (s.root / "snapshots" / str(ids["l1"]) / "work").exists()  # dropped at commit
    [single] = s.view("v1", "l1")
    assert single == Mount(
        "bind", str(s.root / "snapshots" / str(ids["l1"]) / "fs"), ("rbind", "ro")
    )
    [many] = s.view("v3", "l3")
    assert many.type == "overlay" and many.option("upperdir") is None and many.readonly
    target = s.apply_target("c")
    assert target.style is Style.OVERLAY and len(target.lowers) == 3


def test_vfs_prepare_copies_everything(tmp_path: Path, ops: RecordingFsOps) -> None:
    s = VfsSnapshotter(tmp_path / "v", ops=ops)
    s.prepare("base-active")
    root = Path(s.apply_target("base-active").path)
    (root / "dev").mkdir()
    ops.mknod(AT_FDCWD, bytes(root / "dev/null"), stat.S_IFCHR | 0o666, 259)
    (root / "file").write_text("x")
    (root / "hard").hardlink_to(root / "file")
    (root / "link").symlink_to("file")
    ops.chown(AT_FDCWD, bytes(root / "file"), 7, 8)
    ops.setxattr(AT_FDCWD, bytes(root / "file"), b"user.k", b"v")
    s.commit("base", "base-active")
    s.prepare("child", "base")
    copy = Path(s.apply_target("child").path)
    assert copy != root
    node = ops.lstat_path(copy / "dev/null")
    assert stat.S_ISCHR(node.mode) and node.rdev == 259
    assert (copy / "hard").stat().st_ino == (copy / "file").stat().st_ino
    assert (copy / "link").readlink() == Path("file")
    f = ops.lstat_path(copy / "file")
    assert (f.uid, f.gid) == (7, 8)
    assert ops.xattrs_of(copy / "file") == {b"user.k": b"v"}
    target = s.apply_target("child")
    assert target.style is Style.APPLY and target.lowers == ()


def test_snapshot_root_must_not_hold_option_separators(tmp_path: Path) -> None:
    with pytest.raises(InvalidArgument):
        OverlaySnapshotter(tmp_path / "a,b")
