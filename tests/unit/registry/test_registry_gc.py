"""Garbage collection of a registry storage directory, on a storage made through its
own API (no server)."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest

from capsa.errors import Conflict
from capsa.oci.digest import Digest
from capsa.registry.gc import collect
from capsa.registry.storage import RegistryStorage
from capsa.store._files import FileLock

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"


def _blob(storage: RegistryStorage, name: str, data: bytes) -> Digest:
    info = storage.content.write(data)
    storage.link_blob(name, info.digest)
    return info.digest


def _manifest(
    storage: RegistryStorage, name: str, tag: str | None, *blobs: bytes, **extra: object
) -> Digest:
    config, *layers = (_blob(storage, name, b) for b in blobs)
    document = {
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": {
            "mediaType": "application/vnd.oci.image.config.v1+json",
            "digest": str(config),
            "size": len(blobs[0]),
        },
        "layers": [
            {
                "mediaType": "application/vnd.oci.image.layer.v1.tar",
                "digest": str(d),
                "size": len(b),
            }
            for d, b in zip(layers, blobs[1:], strict=True)
        ],
        **extra,
    }
    data = json.dumps(document).encode()
    digest = Digest.of(data)
    storage.put_manifest(name, data, digest, OCI_MANIFEST)
    if tag:
        storage.tag(name, tag, digest)
    return digest


def _age(storage: RegistryStorage, seconds: float = 7200) -> None:
    """Make everything look old enough to collect."""
    old = time.time() - seconds
    for path in storage.root.rglob("*"):
        os.utime(path, (old, old), follow_symlinks=False)


def test_unreferenced_blobs_go_referenced_stay(tmp_path: Path) -> None:
    storage = RegistryStorage(tmp_path)
    kept = _manifest(storage, "app", "v1", b"{}", b"layer one")
    orphan = _blob(storage, "app", b"pushed but never referenced")
    _age(storage)
    report = collect(storage)
    assert report.blobs == [orphan]
    assert report.freed == len(b"pushed but never referenced")
    assert storage.stored_size(orphan) is None
    assert storage.blob_size("app", orphan) is None  # its link went too
    assert report.links == 1
    assert storage.read_manifest("app", kept) is not None
    for digest in (Digest.of(b"{}"), Digest.of(b"layer one")):
        assert storage.blob_size("app", digest) is not None


def test_young_blobs_stay(tmp_path: Path) -> None:
    storage = RegistryStorage(tmp_path)
    young = _blob(storage, "app", b"a push in progress")
    assert collect(storage, grace=3600).blobs == []
    assert storage.stored_size(young) is not None


def test_relinking_an_old_blob_makes_it_young(tmp_path: Path) -> None:
    storage = RegistryStorage(tmp_path)
    digest = _blob(storage, "app", b"old")
    _age(storage)
    storage.link_blob("other", digest)  # a mount, as a push of a manifest will follow
    assert collect(storage, grace=3600).blobs == []


def test_dry_run_removes_nothing(tmp_path: Path) -> None:
    storage = RegistryStorage(tmp_path)
    orphan = _blob(storage, "app", b"orphan")
    _age(storage)
    assert collect(storage, dry_run=True).blobs == [orphan]
    assert storage.stored_size(orphan) is not None


def test_delete_untagged_keeps_what_tags_reach(tmp_path: Path) -> None:
    storage = RegistryStorage(tmp_path)
    tagged = _manifest(storage, "app", "v1", b"{}", b"tagged layer")
    untagged = _manifest(storage, "app", None, b'{"a":1}', b"untagged layer")
    signature = _manifest(
        storage,
        "app",
        None,
        b'{"sig":1}',
        b"signature",
        subject={"mediaType": OCI_MANIFEST, "digest": str(tagged), "size": 1},
    )
    storage.add_referrer(
        "app", tagged, {"digest": str(signature), "mediaType": OCI_MANIFEST, "size": 1}
    )
    _age(storage)
    report = collect(storage, delete_untagged=True)
    assert report.manifests == [("app", untagged)]
    assert storage.read_manifest("app", untagged) is None
    assert storage.read_manifest("app", signature) is not None
    assert Digest.of(b"untagged layer") in report.blobs
    assert storage.stored_size(Digest.of(b"tagged layer")) is not None


def test_one_collection_at_a_time(tmp_path: Path) -> None:
    storage = RegistryStorage(tmp_path)
    lock = FileLock(tmp_path / "gc.lock")
    lock.acquire()
    try:
        with pytest.raises(Conflict):
            collect(storage)
    finally:
        lock.release()
