"""`capsa diff`'s classification: overlay upper entries and whole trees to A/C/D lines."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from capsa.engine.changes import (
    Change,
    UpperEntry,
    classify,
    overlay_changes,
    tree_changes,
)
from capsa.store.fsops import AT_FDCWD, RecordingFsOps, Stat


@pytest.fixture
def ops() -> Iterator[RecordingFsOps]:
    fake = RecordingFsOps()
    yield fake
    fake.close()


def _dir(mode: int = 0o755) -> Stat:
    return Stat(stat.S_IFDIR | mode, 0, 0, 0, 0, 0, 0, 0, 1)


def _file() -> Stat:
    return Stat(stat.S_IFREG | 0o644, 0, 0, 3, 0, 0, 0, 0, 1)


def lines(changes: list[Change]) -> list[str]:
    return [change.line() for change in changes]


def test_whiteout_is_deleted_lower_path_changed_new_path_added() -> None:
    lower = {"/etc": _dir(), "/etc/passwd": _file(), "/bin": _dir()}
    entries = [
        UpperEntry("/bin", directory=True, owner_mode=(0, 0, stat.S_IFDIR | 0o755)),
        UpperEntry("/bin/ls", whiteout=True),
        UpperEntry("/etc", directory=True, owner_mode=(0, 0, stat.S_IFDIR | 0o755)),
        UpperEntry("/etc/passwd"),
        UpperEntry("/new", directory=True, empty=True),
        UpperEntry("/new/file"),
    ]
    assert lines(classify(entries, lower.get)) == [
        "C /bin",
        "D /bin/ls",
        "C /etc",
        "C /etc/passwd",
        "A /new",
        "A /new/file",
    ]


def test_a_directory_only_holding_a_mount_point_is_no_change() -> None:
    lower = {"/etc": _dir()}
    entries = [
        UpperEntry("/etc", directory=True, owner_mode=(0, 0, stat.S_IFDIR | 0o755)),
        UpperEntry("/etc/hosts", empty=True),
        UpperEntry("/proc", directory=True, empty=True),
    ]
    assert classify(entries, lower.get) == []
    entries[1] = UpperEntry("/etc/hosts")  # written to: the user's
    assert lines(classify(entries, lower.get)) == ["C /etc", "A /etc/hosts"]


def test_chmod_of_a_directory_is_a_change() -> None:
    lower = {"/tmp": _dir(0o1777)}
    entries = [UpperEntry("/tmp", directory=True, owner_mode=(0, 0, stat.S_IFDIR | 0o700))]
    assert lines(classify(entries, lower.get)) == ["C /tmp"]


def test_opaque_directory_is_changed_and_hides_the_layers_below() -> None:
    lower = {"/etc": _dir(), "/etc/passwd": _file()}
    entries = [
        UpperEntry("/etc", opaque=True, directory=True),
        UpperEntry("/etc/passwd"),
    ]
    assert lines(classify(entries, lower.get)) == ["C /etc", "A /etc/passwd"]


def test_parents_of_deep_changes_are_changed() -> None:
    entries = [UpperEntry("/a/b/c", whiteout=True)]
    assert lines(classify(entries, {}.get)) == ["C /a", "C /a/b", "D /a/b/c"]


def _whiteout(ops: RecordingFsOps, path: Path) -> None:
    ops.mknod(AT_FDCWD, os.fsencode(path), stat.S_IFCHR | 0o600, os.makedev(0, 0))


def test_overlay_upper_against_layers(tmp_path: Path, ops: RecordingFsOps) -> None:
    top, bottom, upper = tmp_path / "top", tmp_path / "bottom", tmp_path / "upper"
    for layer in (top, bottom, upper):
        layer.mkdir()
    (bottom / "etc").mkdir()
    (bottom / "etc/group").write_text("g")
    (bottom / "etc/motd").write_text("m")
    (bottom / "link").symlink_to("etc")
    (top / "etc").mkdir()
    _whiteout(ops, top / "etc" / "motd")  # the top layer deleted it
    (upper / "etc").mkdir()
    (upper / "etc/group").write_text("changed")
    (upper / "etc/motd").write_text("again")
    (upper / "link").mkdir()  # a directory where the layers have a symlink
    (upper / "link/group").write_text("not through the symlink")
    os.utime(upper / "etc", ns=(os.stat(bottom / "etc").st_mtime_ns,) * 2)
    os.chmod(upper / "etc", os.stat(bottom / "etc").st_mode)
    changes = overlay_changes(str(upper), [str(top), str(bottom)], ops)
    assert lines(changes) == [
        "C /etc",
        "C /etc/group",
        "A /etc/motd",
        "C /link",
        "A /link/group",
    ]


def test_trees_compared_for_vfs(tmp_path: Path) -> None:
    lower, upper = tmp_path / "lower", tmp_path / "upper"
    for tree in (lower, upper):
        (tree / "etc").mkdir(parents=True)
        (tree / "etc/same").write_text("s")
        os.utime(tree / "etc/same", ns=(1, 1))
    (lower / "etc/gone").write_text("g")
    (lower / "etc/edit").write_text("1")
    (upper / "etc/edit").write_text("22")
    (upper / "new").mkdir()
    (upper / "new/inside").write_text("n")
    assert lines(tree_changes(str(lower), str(upper))) == [
        "C /etc",
        "C /etc/edit",
        "D /etc/gone",
        "A /new",
        "A /new/inside",
    ]
