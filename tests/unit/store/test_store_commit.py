"""A snapshot's change as a layer: `layer_from_snapshot` makes the layer and leaves the
snapshot (a container's root) as it was; `select_for` leaves entries out."""

from __future__ import annotations

import contextlib
import os
import stat
from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest
from store_tars import dir_, members, reg, tar_bytes

from capsa.store.commit import layer_from_snapshot
from capsa.store.diff import Keep, Select
from capsa.store.fsops import AT_FDCWD, RecordingFsOps, Stat
from capsa.store.layerformat import Style
from capsa.store.layers import chain_id
from capsa.store.snapshots import Kind
from capsa.store.store import Store


@pytest.fixture
def ops() -> Iterator[RecordingFsOps]:
    fake = RecordingFsOps()
    yield fake
    fake.close()


@pytest.fixture(params=["overlay", "vfs"])
def store(request: pytest.FixtureRequest, tmp_path: Path, ops: RecordingFsOps) -> Iterator[Store]:
    with Store(tmp_path / "storage", driver=request.param, ops=ops) as opened:
        yield opened


def _container(store: Store, ops: RecordingFsOps) -> str:
    """A base layer and an active snapshot on it that adds, changes and deletes files."""
    base = tar_bytes(dir_("etc"), reg("etc/passwd", b"root\n"), reg("gone", b"x"))
    with store.lease() as lease:
        blob = store.write_blob([base], lease=lease)
        layer = store.unpack(blob.digest, lease=lease)
    store.snapshotter.prepare("c1", layer.chain_id)
    target = store.snapshotter.apply_target("c1")
    root = Path(target.path)
    (root / "etc").mkdir(exist_ok=True)
    (root / "etc/hosts").write_text("")  # an engine's mount point
    (root / "new").write_text("new\n")
    if target.style is Style.OVERLAY:
        ops.mknod(AT_FDCWD, os.fsencode(root / "gone"), stat.S_IFCHR, 0)
    else:
        (root / "gone").unlink()
    return layer.chain_id


@contextlib.contextmanager
def _no_hosts(lowers: Sequence[str]) -> Iterator[Select]:
    assert lowers  # the parent's trees are there while the diff runs
    assert all(os.path.isdir(lower) for lower in lowers)

    def select(name: bytes, st: Stat) -> Keep:
        if name == b"etc":
            return Keep.IF_NEEDED
        return Keep.SKIP if name == b"etc/hosts" else Keep.WRITE

    yield select


def test_layer_from_snapshot_keeps_the_snapshot(store: Store, ops: RecordingFsOps) -> None:
    parent = _container(store, ops)
    with store.lease() as lease:
        record, result = layer_from_snapshot(store, "c1", parent, lease=lease)
        assert record.chain_id == chain_id(parent, result.diff_id)
        assert store.layer(record.chain_id) is not None
        with store.content.open(result.digest) as reader:
            names = [m.name for m in members(reader.read())]
    assert "new" in names and ".wh.gone" in names and "etc/hosts" in names
    assert result.digest == result.diff_id  # a plain tar
    info = store.snapshotter.stat("c1")
    assert info.kind is Kind.ACTIVE and info.parent == parent
    assert (Path(store.snapshotter.apply_target("c1").path) / "new").read_text() == "new\n"


def test_layer_from_snapshot_leaves_out_what_select_refuses(
    store: Store, ops: RecordingFsOps
) -> None:
    parent = _container(store, ops)
    with store.lease() as lease:
        _, result = layer_from_snapshot(store, "c1", parent, lease=lease, select_for=_no_hosts)
        with store.content.open(result.digest) as reader:
            names = [m.name for m in members(reader.read())]
    assert sorted(names) == [".wh.gone", "new"]
    # the same change twice is the same layer
    with store.lease() as lease:
        again, second = layer_from_snapshot(store, "c1", parent, lease=lease, select_for=_no_hosts)
    assert second.diff_id == result.diff_id
    assert store.layer(again.chain_id) is not None
