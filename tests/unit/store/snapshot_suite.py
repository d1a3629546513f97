"""The snapshotter test suite (containerd's snapshots/testsuite shape): the same checks
for every snapshotter. Unit tests run it without mounts (writing through the snapshot's
apply target and checking the returned mounts); integration tests run it as root with
every mount performed, so what a container would see is checked too."""

from __future__ import annotations

import contextlib
import errno
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from capsa.errors import AlreadyExists, InvalidArgument, NotFound
from capsa.store.errors import InUse
from capsa.store.fsops import FsOps
from capsa.store.snapshots import Kind, Mount, OverlaySnapshotter, VfsSnapshotter
from capsa.store.snapshots._dirs import DirSnapshotter

Mounter = Callable[[list[Mount], Path], contextlib.AbstractContextManager[Path]]


@dataclass
class Env:
    driver: str
    tmp: Path
    ops: FsOps | None
    mounter: Mounter | None  # None: mounts are only inspected

    def make(self) -> DirSnapshotter:
        root = self.tmp / f"{self.driver}-root"
        if self.driver == "overlay":
            return OverlaySnapshotter(root, ops=self.ops)
        return VfsSnapshotter(root, ops=self.ops)

    @contextlib.contextmanager
    def writable(self, snapshotter: DirSnapshotter, key: str) -> Iterator[Path]:
        """The active snapshot's tree as the container sees it (mounted) or, without
        mounts, the directory where its changes go."""
        if self.mounter is None:
            yield Path(snapshotter.apply_target(key).path)
            return
        with self.mounter(snapshotter.mounts(key), self.target(key)) as path:
            yield path

    @contextlib.contextmanager
    def readable(self, snapshotter: DirSnapshotter, key: str) -> Iterator[Path | None]:
        if self.mounter is None:
            yield None
            return
        with self.mounter(snapshotter.mounts(key), self.target(key)) as path:
            yield path

    def target(self, key: str) -> Path:
        path = self.tmp / "mnt" / key.replace("/", "_").replace(":", "_")
        path.mkdir(parents=True, exist_ok=True)
        return path


def commit_layer(
    env: Env, s: DirSnapshotter, name: str, parent: str | None, files: dict[str, str]
) -> None:
    key = f"extract-{name}"
    s.prepare(key, parent)
    with env.writable(s, key) as root:
        for rel, text in files.items():
            (root / rel).parent.mkdir(parents=True, exist_ok=True)
            (root / rel).write_text(text)
    s.commit(name, key)


def check_prepare_commit_chain(env: Env) -> None:
    s = env.make()
    commit_layer(env, s, "base", None, {"etc/os-release": "base", "bin/sh": "sh"})
    commit_layer(env, s, "top", "base", {"etc/app.conf": "app"})
    assert s.stat("base").kind is Kind.COMMITTED and s.stat("base").parent is None
    assert s.stat("top").parent == "base"
    mounts = s.prepare("container", "top", labels={"owner": "test"})
    assert s.stat("container").kind is Kind.ACTIVE
    assert s.stat("container").labels == {"owner": "test"}
    assert [info.key for info in s.walk()] == ["base", "top", "container"]
    [mount] = mounts
    if env.driver == "overlay":
        lowers = mount.option("lowerdir")
        assert mount.type == "overlay" and lowers is not None
        assert lowers.split(":")[0].startswith(str(env.tmp))
        assert len(lowers.split(":")) == 2  # top first, then base
        assert mount.option("upperdir") and mount.option("workdir")
        assert s.apply_target("container").lowers == tuple(lowers.split(":"))
    else:
        assert mount.type == "bind" and "rw" in mount.options
    with env.writable(s, "container") as root:
        if env.mounter is not None or env.driver == "vfs":
            assert (root / "etc/os-release").read_text() == "base"
            assert (root / "etc/app.conf").read_text() == "app"
        (root / "etc").mkdir(exist_ok=True)  # (in an unmounted overlay upper it is not there)
        (root / "etc/app.conf").write_text("changed")
    s.commit("next", "container")
    with contextlib.suppress(NotFound):
        s.stat("container")
        raise AssertionError("the active key must be gone after commit")
    s.view("look", "next")
    with env.readable(s, "look") as root:
        if root is not None:
            assert (root / "etc/app.conf").read_text() == "changed"
            assert (root / "bin/sh").read_text() == "sh"
    s.close()


def check_views_are_read_only(env: Env) -> None:
    s = env.make()
    commit_layer(env, s, "base", None, {"a": "a"})
    commit_layer(env, s, "top", "base", {"b": "b"})
    for key, parent in (("v1", "base"), ("v2", "top"), ("v0", None)):
        [mount] = s.view(key, parent)
        assert mount.readonly, mount
        assert s.stat(key).kind is Kind.VIEW
        with env.readable(s, key) as root:
            if root is None:
                continue
            try:
                (root / "new").write_text("x")
            except OSError as error:
                assert error.errno == errno.EROFS
            else:
                raise AssertionError(f"view {key} was writable")
    with pytest.raises(InvalidArgument):
        s.commit("from-view", "v1")
    with pytest.raises(InvalidArgument):
        s.apply_target("v1")
    s.close()


def check_rules(env: Env) -> None:
    s = env.make()
    commit_layer(env, s, "base", None, {"a": "a"})
    s.prepare("active", "base")
    with pytest.raises(AlreadyExists):
        s.prepare("active", "base")
    with pytest.raises(AlreadyExists):
        s.prepare("base")
    with pytest.raises(NotFound):
        s.prepare("orphan", "missing")
    with pytest.raises(InvalidArgument, match="not committed"):
        s.prepare("child", "active")
    with pytest.raises(AlreadyExists):
        s.commit("base", "active")
    with pytest.raises(InvalidArgument, match="committed"):
        s.mounts("base")
    with pytest.raises(NotFound):
        s.commit("x", "missing")
    with pytest.raises(InvalidArgument):
        s.prepare("")
    assert s.stat("active").kind is Kind.ACTIVE  # a refused call changed nothing
    s.close()


def check_remove_refuses_with_children(env: Env) -> None:
    s = env.make()
    commit_layer(env, s, "base", None, {"a": "a"})
    commit_layer(env, s, "top", "base", {"b": "b"})
    s.prepare("container", "top")
    with pytest.raises(InUse):
        s.remove("base")
    with pytest.raises(InUse):
        s.remove("top")
    s.remove("container")
    s.remove("top")
    s.remove("base")
    with pytest.raises(NotFound):
        s.remove("base")
    assert list(s.walk()) == []
    assert os.listdir(s.root / "snapshots") == []
    s.close()


def check_actives_are_isolated(env: Env) -> None:
    s = env.make()
    commit_layer(env, s, "base", None, {"shared": "original"})
    s.prepare("one", "base")
    s.prepare("two", "base")
    with env.writable(s, "one") as root:
        (root / "shared").write_text("changed by one")
        (root / "only-one").write_text("1")
    with env.writable(s, "two") as root:
        if env.mounter is not None or env.driver == "vfs":
            assert (root / "shared").read_text() == "original"
        assert not (root / "only-one").exists()
    s.view("check", "base")
    with env.readable(s, "check") as root:
        if root is not None:
            assert (root / "shared").read_text() == "original"
    s.close()


def check_deletion_in_a_child_hides_the_file(env: Env) -> None:
    if env.mounter is None and env.driver == "overlay":
        pytest.skip("deleting through overlay needs a real mount")
    s = env.make()
    commit_layer(env, s, "base", None, {"etc/passwd": "p", "etc/group": "g", "var/x": "x"})
    s.prepare("container", "base")
    with env.writable(s, "container") as root:
        (root / "etc/passwd").unlink()
        (root / "var/x").unlink()
        (root / "var").rmdir()
    s.commit("layer2", "container")
    s.prepare("after", "layer2")
    with env.writable(s, "after") as root:
        if env.mounter is not None or env.driver == "vfs":
            assert sorted(os.listdir(root / "etc")) == ["group"]
            assert not (root / "var").exists()
    s.close()


def check_usage(env: Env) -> None:
    s = env.make()
    commit_layer(env, s, "base", None, {"big": "x" * 100_000, "small": "y"})
    usage = s.usage("base")
    assert usage.size >= 100_000 and usage.inodes >= 2
    s.prepare("active", "base")
    with env.writable(s, "active") as root:
        (root / "more").write_text("z" * 50_000)
    assert s.usage("active").size >= 50_000
    s.close()


def check_cleanup_removes_orphans(env: Env) -> None:
    s = env.make()
    commit_layer(env, s, "base", None, {"a": "a"})
    (s.root / "snapshots" / "999" / "fs").mkdir(parents=True)
    assert s.cleanup() == ["999"]
    assert sorted(os.listdir(s.root / "snapshots")) == [str(s._row("base")["id"])]
    assert s.stat("base").kind is Kind.COMMITTED
    s.close()


def check_reopen_keeps_snapshots(env: Env) -> None:
    s = env.make()
    commit_layer(env, s, "base", None, {"a": "a"})
    s.prepare("active", "base")
    s.close()
    again = env.make()
    assert [(i.key, i.kind) for i in again.walk()] == [
        ("base", Kind.COMMITTED),
        ("active", Kind.ACTIVE),
    ]
    again.close()


CHECKS = [
    check_prepare_commit_chain,
    check_views_are_read_only,
    check_rules,
    check_remove_refuses_with_children,
    check_actives_are_isolated,
    check_deletion_in_a_child_hides_the_file,
    check_usage,
    check_cleanup_removes_orphans,
    check_reopen_keeps_snapshots,
]
