"""The Store facade: driver choice, layer unpack into snapshots (once per chain ID),
image records that are always complete, and garbage collection (leases, grace period,
a collector running beside a pull)."""

from __future__ import annotations

import hashlib
import io
import multiprocessing
import os
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from store_tars import compress, dir_, reg, tar_bytes

from capsa.errors import Conflict, InvalidArgument, NotFound
from capsa.oci.digest import Digest
from capsa.store.errors import DigestMismatch, LayerRefused
from capsa.store.fsops import RecordingFsOps
from capsa.store.layers import chain_id, chain_ids
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


def old(store: Store) -> None:
    """Age every blob past the grace period."""
    for blob in store.content.list():
        os.utime(store.content.path(blob.digest), (1, 1))


def add_layer(store: Store, data: bytes, lease: object = None) -> tuple[Digest, bytes]:
    blob = compress(data, "gzip")
    with store.lease() as own:
        info = store.write_blob([blob], lease=own, expected=Digest.of(blob))
    return info.digest, data


def test_chain_ids() -> None:
    a, b = Digest.of(b"a"), Digest.of(b"b")
    assert chain_id(None, a) == str(a)
    expected = "sha256:" + hashlib.sha256(f"{a} {b}".encode()).hexdigest()
    assert chain_ids([a, b]) == [str(a), expected]


def test_driver_is_recorded(tmp_path: Path, ops: RecordingFsOps) -> None:
    with Store(tmp_path / "s", driver="vfs", ops=ops) as store:
        assert store.driver == "vfs"
    with Store(tmp_path / "s", ops=ops) as store:
        assert store.driver == "vfs"
    with pytest.raises(Conflict, match="vfs"):
        Store(tmp_path / "s", driver="overlay", ops=ops)
    with pytest.raises(InvalidArgument):
        Store(tmp_path / "t", driver="btrfs")


def test_unpack_layers_once_per_chain(store: Store) -> None:
    base = tar_bytes(dir_("etc"), reg("etc/os-release", b"NAME=test\n"), reg("bin/sh", b"sh"))
    top = tar_bytes(reg("etc/.wh.os-release"), reg("app", b"app"))
    with store.lease() as lease:
        base_blob = store.write_blob([compress(base, "gzip")], lease=lease)
        top_blob = store.write_blob([compress(top, "zstd")], lease=lease)
        first = store.unpack(base_blob.digest, lease=lease, diff_id=Digest.of(base))
        assert first.chain_id == str(Digest.of(base)) and first.parent is None
        second = store.unpack(top_blob.digest, lease=lease, parent=first.chain_id)
        assert second.chain_id == chain_id(first.chain_id, Digest.of(top))
        assert second.size == len(top)
        snapshots = [info.key for info in store.snapshotter.walk()]
        assert snapshots == [first.chain_id, second.chain_id]
        # again: found by its blob digest, nothing unpacked
        again = store.unpack(top_blob.digest, lease=lease, parent=first.chain_id)
        assert again == second
        assert [info.key for info in store.snapshotter.walk()] == snapshots
        blobs = store.metadata.layer_blobs(diff_id=str(Digest.of(top)))
        assert [b.digest for b in blobs] == [str(top_blob.digest)]
        image = store.put_image(
            str(Digest.of(b"config")),
            str(Digest.of(b"manifest")),
            size=123,
            layers=[first.chain_id, second.chain_id],
            blobs={str(base_blob.digest): "layer", str(top_blob.digest): "layer"},
            names=["docker.io/library/test:latest"],
        )
    assert image.top_layer == second.chain_id
    store.snapshotter.view("look", second.chain_id)
    if store.driver == "vfs":
        root = Path(store.snapshotter.mounts("look")[0].source)
        assert sorted(os.listdir(root)) == ["app", "bin", "etc"]
        assert os.listdir(root / "etc") == []


def test_a_failed_unpack_leaves_nothing(store: Store) -> None:
    layer = tar_bytes(reg("a", b"x"))
    with store.lease() as lease:
        blob = store.write_blob([layer], lease=lease)
        with pytest.raises(DigestMismatch):
            store.unpack(blob.digest, lease=lease, diff_id=Digest.of(b"wrong"))
        evil = store.write_blob([tar_bytes(reg("../evil", b"x"))], lease=lease)
        with pytest.raises(LayerRefused):
            store.unpack(evil.digest, lease=lease)
        with pytest.raises(NotFound):
            store.unpack(blob.digest, lease=lease, parent=str(Digest.of(b"no such layer")))
    assert list(store.snapshotter.walk()) == []
    assert store.metadata.layers() == []
    assert os.listdir(store.snapshotter.root / "snapshots") == []


def test_images_are_complete_or_not_recorded(store: Store) -> None:
    with pytest.raises(NotFound, match="blob"):
        store.put_image(
            str(Digest.of(b"c")), str(Digest.of(b"m")), size=1, layers=[],
            blobs={str(Digest.of(b"missing")): "config"},
        )  # fmt: skip
    with pytest.raises(NotFound, match="layer"):
        store.put_image(
            str(Digest.of(b"c")), str(Digest.of(b"m")), size=1,
            layers=[str(Digest.of(b"missing"))], blobs={},
        )  # fmt: skip
    assert store.metadata.images() == []


def build_image(store: Store, name: str, *files: str) -> tuple[str, list[str], list[str]]:
    """An image of one layer per file; returns (image id, chain IDs, blob digests)."""
    with store.lease() as lease:
        parent = None
        chains, blobs = [], []
        for file in files:
            info = store.write_blob([compress(tar_bytes(reg(file, file.encode())), "gzip")],
                                    lease=lease)  # fmt: skip
            parent = store.unpack(info.digest, lease=lease, parent=parent).chain_id
            chains.append(parent)
            blobs.append(str(info.digest))
        config = store.write_blob([f"config {name}".encode()], lease=lease)
        image_id = str(config.digest)
        store.put_image(
            image_id, image_id, size=1, layers=chains,
            blobs={image_id: "config", **dict.fromkeys(blobs, "layer")}, names=[name],
        )  # fmt: skip
    return image_id, chains, blobs


def test_gc_keeps_what_images_use_and_removes_the_rest(store: Store) -> None:
    image_a, chains_a, blobs_a = build_image(store, "a:1", "base", "a")
    image_b, chains_b, blobs_b = build_image(store, "b:1", "base", "b")
    assert chains_a[0] == chains_b[0]  # the shared base is one snapshot
    with store.lease() as lease:
        stray = store.write_blob([b"nobody uses me"], lease=lease)
    old(store)
    report = store.gc()
    assert report.blobs == [str(stray.digest)]
    assert report.layers == [] and report.snapshots == []
    store.metadata.delete_image(image_b)
    old(store)
    report = store.gc()
    assert report.layers == [chains_b[1]]
    assert report.snapshots == [chains_b[1]]
    assert set(report.blobs) == {image_b, blobs_b[1]}
    assert store.layer(chains_a[0]) is not None and store.layer(chains_a[1]) is not None
    for digest in (image_a, *blobs_a):
        assert store.content.exists(digest)
    store.metadata.delete_image(image_a)
    old(store)
    report = store.gc()
    assert sorted(report.layers) == sorted(chains_a)
    assert list(store.snapshotter.walk()) == []
    assert list(store.content.list()) == []
    assert os.listdir(store.snapshotter.root / "removed") == []


def test_gc_respects_leases_grace_and_containers(store: Store) -> None:
    image, chains, _ = build_image(store, "a:1", "base", "app")
    # a container: an active snapshot on the image's top layer, held by a lease
    container = store.lease("container:c1", expires_in=None)
    container.add_image(image)
    container.add_snapshot("c1")
    store.snapshotter.prepare("c1", chains[-1])
    store.metadata.delete_image(image, force=True)
    pull = store.lease(expires_in=3600)
    kept = store.write_blob([b"being pulled"], lease=pull)
    young = store.content.write(b"written without a lease, just now")
    old(store)
    os.utime(store.content.path(young.digest))
    report = store.gc()
    assert report.layers == []  # the container's snapshot keeps its parents
    assert store.content.exists(kept.digest) and store.content.exists(young.digest)
    assert store.snapshotter.stat("c1").kind is Kind.ACTIVE
    # a crashed pull: its lease expires, its half-made snapshot is collected
    crashed = store.lease(expires_in=0.01)
    crashed.add_snapshot("extract-dead")
    store.snapshotter.prepare("extract-dead", chains[0])
    time.sleep(0.05)
    report = store.gc(grace=0)
    assert crashed.id in report.leases
    assert "extract-dead" in report.snapshots
    assert not store.content.exists(young.digest)
    container.release()
    pull.release()
    store.snapshotter.remove("c1")
    report = store.gc(grace=0)
    assert sorted(report.layers) == sorted(chains)


def _pull_loop(root: str, rounds: int) -> None:
    ops = RecordingFsOps()
    with Store(root, ops=ops) as store:
        for i in range(rounds):
            build_image(store, f"img:{i}", "base", f"layer-{i}")
            if i % 2:
                store.metadata.delete_image(store.metadata.resolve_image(f"img:{i - 1}").id)


def _gc_loop(root: str, seconds: float) -> None:
    ops = RecordingFsOps()
    deadline = time.monotonic() + seconds
    with Store(root, ops=ops) as store:
        while time.monotonic() < deadline:
            store.gc(grace=0)


def test_gc_beside_a_pull(tmp_path: Path, ops: RecordingFsOps) -> None:
    root = str(tmp_path / "storage")
    Store(root, driver="vfs", ops=ops).close()
    context = multiprocessing.get_context("fork")
    puller = context.Process(target=_pull_loop, args=(root, 20))
    collector = context.Process(target=_gc_loop, args=(root, 3.0))
    collector.start()
    puller.start()
    puller.join(120)
    collector.join(120)
    assert puller.exitcode == 0 and collector.exitcode == 0
    with Store(root, ops=ops) as store:
        images = store.metadata.images()
        assert len(images) == 10
        for image in images:  # every listed image is complete
            for digest in store.metadata.image_blobs(image.id):
                assert store.content.exists(digest), digest
            for chain in image.layers:
                assert store.layer(chain) is not None, chain
        store.gc(grace=0)
        assert len(list(store.snapshotter.walk())) == 11  # the shared base and 10 tops


def test_write_blob_rejects_wrong_content(store: Store) -> None:
    with store.lease() as lease, pytest.raises(DigestMismatch):
        store.write_blob(io.BytesIO(b"abc"), lease=lease, expected=Digest.of(b"abd"))
    assert list(store.content.list()) == []


def test_a_corrupt_blob_is_not_unpacked(store: Store) -> None:
    layer = compress(tar_bytes(reg("a", b"x" * 10_000)), "gzip")
    with store.lease() as lease:
        blob = store.write_blob([layer], lease=lease)
        path = store.content.path(blob.digest)
        path.chmod(0o644)
        data = bytearray(path.read_bytes())
        data[-10] ^= 0xFF  # inside the gzip trailer: the tar itself still reads fine
        path.write_bytes(bytes(data))
        with pytest.raises(InvalidArgument):  # BlobCorrupted, or a bad gzip checksum
            store.unpack(blob.digest, lease=lease)
    assert list(store.snapshotter.walk()) == []
    assert store.metadata.layers() == []


def _unpack_same(root: str, data: bytes) -> None:
    with Store(root, ops=RecordingFsOps()) as store, store.lease() as lease:
        blob = store.write_blob([data], lease=lease)
        store.unpack(blob.digest, lease=lease)


def test_processes_unpacking_the_same_layer(tmp_path: Path, ops: RecordingFsOps) -> None:
    root = str(tmp_path / "storage")
    Store(root, driver="vfs", ops=ops).close()
    data = compress(tar_bytes(*(reg(f"f{i}", os.urandom(20_000)) for i in range(50))), "gzip")
    context = multiprocessing.get_context("fork")
    workers = [context.Process(target=_unpack_same, args=(root, data)) for _ in range(4)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(60)
        assert worker.exitcode == 0
    with Store(root, ops=ops) as store:
        assert [info.kind for info in store.snapshotter.walk()] == [Kind.COMMITTED]
        assert len(store.metadata.layers()) == 1
        store.snapshotter.cleanup()
        assert len(os.listdir(store.snapshotter.root / "snapshots")) == 1
