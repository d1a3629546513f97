"""`capsa commit`'s layer leaves out the engine's mount points (on overlay and vfs) and
keeps the user's changes, even at those paths."""

from __future__ import annotations

import io
import os
import tarfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from capsa.engine.commit import without_mount_points
from capsa.store.commit import layer_from_snapshot
from capsa.store.fsops import RecordingFsOps
from capsa.store.store import Store


@pytest.fixture(params=["overlay", "vfs"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    ops = RecordingFsOps()
    with Store(tmp_path / "storage", driver=request.param, ops=ops) as opened:
        yield opened
    ops.close()


def _base_layer() -> bytes:
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w") as tar:
        for name in ("etc", "sys"):
            info = tarfile.TarInfo(name)
            info.type, info.mode = tarfile.DIRTYPE, 0o755
            tar.addfile(info)
        info = tarfile.TarInfo("etc/passwd")
        info.size, info.mode = 5, 0o644
        tar.addfile(info, io.BytesIO(b"root\n"))
    return out.getvalue()


def _container(store: Store) -> tuple[Path, str]:
    """A container snapshot with what the engine puts there: /etc/hosts, hostname and
    resolv.conf as empty files, /proc and /dev as empty directories."""
    with store.lease() as lease:
        blob = store.write_blob([_base_layer()], lease=lease)
        parent = store.unpack(blob.digest, lease=lease).chain_id
    store.snapshotter.prepare("c1", parent)
    root = Path(store.snapshotter.apply_target("c1").path)
    (root / "etc").mkdir(mode=0o755, exist_ok=True)  # overlay: copied up for the files
    os.chmod(root / "etc", 0o755)
    for name in ("hosts", "hostname", "resolv.conf"):
        (root / "etc" / name).write_bytes(b"")
    (root / "proc").mkdir()
    (root / "dev").mkdir()
    (root / "root").mkdir()
    (root / "root/x").write_text("x")
    return root, parent


def _layer_names(store: Store, parent: str) -> list[str]:
    with store.lease() as lease:
        _, result = layer_from_snapshot(
            store, "c1", parent, lease=lease, select_for=without_mount_points
        )
        with store.content.open(result.digest) as reader, tarfile.open(
            fileobj=io.BytesIO(reader.read())
        ) as tar:
            return sorted(tar.getnames())


def test_the_engines_mount_points_are_left_out(store: Store) -> None:
    _, parent = _container(store)
    assert _layer_names(store, parent) == ["root", "root/x"]


def test_what_the_user_put_at_those_paths_is_kept(store: Store) -> None:
    root, parent = _container(store)
    (root / "etc/hostname").write_text("mine\n")
    (root / "dev/made").write_text("d")
    (root / "sys").mkdir(exist_ok=True)  # overlay: copied up
    (root / "sys/own").write_text("s")  # /sys is the image's: not a mount point made here
    assert _layer_names(store, parent) == [
        "dev",
        "dev/made",
        "etc",
        "etc/hostname",
        "root",
        "root/x",
        "sys",
        "sys/own",
    ]


def test_a_changed_mode_of_etc_is_kept(store: Store) -> None:
    root, parent = _container(store)
    os.chmod(root / "etc", 0o700)
    assert _layer_names(store, parent) == ["etc", "root", "root/x"]
