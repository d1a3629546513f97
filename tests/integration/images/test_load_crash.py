"""Crash safety: `capsa load` killed with SIGKILL at random points, again and again, on
one store. After every kill no blob is corrupt (each re-hashes to its digest) and every
listed image is complete; afterwards loads and garbage collection work, and once the dead
loads' leases expire nothing they left behind remains."""

from __future__ import annotations

import hashlib
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parents[2] / "unit" / "transport"))

from transport_images import MemorySource, image_of_tars, layer_tar

from capsa.oci.media_types import Compression
from capsa.store.snapshots import Kind
from capsa.store.store import Store
from capsa.transport.copy import copy_image
from capsa.transport.open import open_destination

CAPSA = str(Path(sys.executable).with_name("capsa"))
ROUNDS = 30


def _files(seed: int, count: int, size: int) -> dict[str, bytes]:
    rng = random.Random(seed)
    return {f"data/{seed}/f{i}": rng.randbytes(size) for i in range(count)}


def make_archives(directory: Path) -> list[Path]:
    """Three images sharing a base layer, each with layers of its own (a few MB each, so
    that a load takes long enough to be killed in every phase)."""
    base = (layer_tar(_files(0, 80, 100_000)), Compression.GZIP)
    archives = []
    for n in range(1, 4):
        own = [
            (layer_tar(_files(n * 10 + k, 40, 100_000)), kind)
            for k, kind in enumerate((Compression.GZIP, Compression.ZSTD, Compression.NONE))
        ]
        image = image_of_tars([base, *own])
        path = directory / f"image{n}.tar"
        dst = open_destination(f"docker-archive:{path}:example.com/crash{n}:1")
        copy_image(MemorySource(image.manifest, image.media_type, image.blobs), dst)
        dst.close()
        archives.append(path)
    return archives


def load(root: Path, archive: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [CAPSA, "--root", str(root), "load", "-q", "-i", str(archive)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def check_store(root: Path) -> int:
    """No corrupt blob; every listed image complete. Returns how many images are listed."""
    with Store(root / "storage") as store:
        for blob in store.content.list():
            hasher = hashlib.new(blob.digest.algorithm)
            with open(store.content.path(blob.digest), "rb") as file:
                while chunk := file.read(1 << 20):
                    hasher.update(chunk)
            assert hasher.hexdigest() == blob.digest.encoded, f"corrupt blob {blob.digest}"
            assert blob.size == os.path.getsize(store.content.path(blob.digest))
        images = store.metadata.images()
        for record in images:
            for digest in store.metadata.image_blobs(record.id):
                assert store.content.exists(digest), f"{record.id} lacks blob {digest}"
            for chain in record.layers:
                assert store.layer(chain) is not None, f"{record.id} lacks layer {chain}"
                info = store.snapshotter.stat(store.metadata.get_layer(chain).snapshot_key)
                assert info.kind is Kind.COMMITTED
        for name in store.metadata.names():
            store.metadata.get_image(name.image_id)
        return len(images)


def forget_everything(root: Path) -> None:
    """Remove every image, let the dead loads' leases expire and collect garbage."""
    from capsa.store.images import remove_image

    with Store(root / "storage") as store:
        for record in store.metadata.images():
            remove_image(store.metadata, record.id, force=True)
        store.metadata.expire_leases(time.time() + 7 * 24 * 3600)
        store.gc(grace=0)
        assert list(store.content.list()) == []
        assert list(store.snapshotter.walk()) == []


@pytest.mark.timeout(600)
def test_load_killed_at_random_points(tmp_path: Path) -> None:
    archives = make_archives(tmp_path)
    root = tmp_path / "root"
    started = time.monotonic()
    whole = load(root, archives[0])
    assert whole.wait(timeout=120) == 0
    duration = time.monotonic() - started
    check_store(root)

    rng = random.Random(os.getpid())
    killed = 0
    for round_ in range(ROUNDS):
        if round_ % 3 == 0:
            forget_everything(root)  # so that the next loads have every phase to do again
        process = load(root, rng.choice(archives))
        time.sleep(rng.uniform(duration * 0.15, duration * 0.9))  # past interpreter start
        if process.poll() is None:
            process.send_signal(signal.SIGKILL)
            killed += 1
        process.wait(timeout=60)
        check_store(root)
    assert killed >= ROUNDS // 3, "the loads ended before they could be killed"

    for archive in archives:  # a load after the crashes works
        done = subprocess.run(
            [CAPSA, "--root", str(root), "load", "-q", "-i", str(archive)],
            capture_output=True,
            timeout=120,
            check=False,
        )
        assert done.returncode == 0, done.stderr
    assert check_store(root) == 3
    with Store(root / "storage") as store:
        store.gc()  # works beside what the dead loads left, keeping every image
        # once the dead loads' leases have expired, nothing of theirs is left
        store.metadata.expire_leases(time.time() + 7 * 24 * 3600)
        store.gc(grace=0)
        assert store.metadata.leases() == []
        assert store.content.ingests() == []
        assert [i.key for i in store.snapshotter.walk() if i.kind is not Kind.COMMITTED] == []
        referenced = set()
        for record in store.metadata.images():
            referenced |= set(store.metadata.image_blobs(record.id))
        assert {str(b.digest) for b in store.content.list()} == referenced
        kept = {c for r in store.metadata.images() for c in r.layers}
        assert {layer.chain_id for layer in store.metadata.layers()} == kept
    assert check_store(root) == 3
