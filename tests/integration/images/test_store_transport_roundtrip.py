"""The store as a transport: an oci-archive made here goes into the store and back out
with its config, layers and manifest byte for byte (root: layers are unpacked)."""

from __future__ import annotations

import gzip
import io
import json
import tarfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from capsa.errors import CapsaError, NotFound
from capsa.oci import media_types as mt
from capsa.oci.digest import Digest
from capsa.store.store import Store
from capsa.transport.copy import copy_image
from capsa.transport.open import reading, writing
from capsa.transport.store.dest import StoreDestination
from capsa.transport.store.find import find_image
from capsa.transport.store.source import StoreSource


def _layer(files: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mtime = 1_600_000_000
            tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def make_oci_archive(path: Path, ref: str = "example.com/app:1") -> dict[str, bytes]:
    """A two-layer image (gzip and plain) as an oci-archive; returns its blobs."""
    plain = [_layer({"a.txt": b"first\n"}), _layer({"b.txt": b"second\n"})]
    stored = [gzip.compress(plain[0], mtime=0), plain[1]]
    types = [mt.OCI_LAYER_GZIP, mt.OCI_LAYER]
    config = json.dumps(
        {
            "architecture": "amd64",
            "os": "linux",
            "config": {"Cmd": ["sh"]},
            "rootfs": {"type": "layers", "diff_ids": [str(Digest.of(p)) for p in plain]},
        }
    ).encode()
    manifest = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": mt.OCI_MANIFEST,
            "config": {
                "mediaType": mt.OCI_CONFIG,
                "digest": str(Digest.of(config)),
                "size": len(config),
            },
            "layers": [
                {"mediaType": t, "digest": str(Digest.of(b)), "size": len(b)}
                for t, b in zip(types, stored, strict=True)
            ],
        }
    ).encode()
    index = json.dumps(
        {
            "schemaVersion": 2,
            "manifests": [
                {
                    "mediaType": mt.OCI_MANIFEST,
                    "digest": str(Digest.of(manifest)),
                    "size": len(manifest),
                    "annotations": {"org.opencontainers.image.ref.name": ref},
                }
            ],
        }
    ).encode()
    blobs = {str(Digest.of(b)): b for b in (config, manifest, *stored)}
    with tarfile.open(path, "w") as tar:
        members = {"oci-layout": b'{"imageLayoutVersion":"1.0.0"}', "index.json": index}
        members |= {f"blobs/sha256/{d.removeprefix('sha256:')}": b for d, b in blobs.items()}
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return {"config": config, "manifest": manifest, "layer0": stored[0], "layer1": stored[1]}


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    s = Store(tmp_path / "store")
    yield s
    s.close()


def test_oci_archive_into_the_store_and_back_byte_identical(tmp_path: Path, store: Store) -> None:
    blobs = make_oci_archive(tmp_path / "in.tar")
    destination = StoreDestination(store)
    with reading(f"oci-archive:{tmp_path / 'in.tar'}") as source:
        copy_image(source, destination, name="example.com/app:1")
    destination.close()
    record = destination.committed[-1]
    assert record.id == str(Digest.of(blobs["config"]))
    assert record.names == ("example.com/app:1",)
    assert len(record.layers) == 2
    assert record.manifest_digest == str(Digest.of(blobs["manifest"]))

    out = tmp_path / "out"
    with writing(f"oci:{out}:v1") as sink:
        copy_image(StoreSource(store, "example.com/app:1"), sink)
    for data in blobs.values():
        digest = Digest.of(data)
        assert (out / "blobs" / "sha256" / digest.encoded).read_bytes() == data


def test_layers_are_unpacked_once_and_shared(tmp_path: Path, store: Store) -> None:
    make_oci_archive(tmp_path / "in.tar")
    for name in ("example.com/app:1", "example.com/app:2"):
        destination = StoreDestination(store, name)
        with reading(f"oci-archive:{tmp_path / 'in.tar'}") as source:
            copy_image(source, destination)
        destination.close()
    assert len(store.metadata.layers()) == 2
    assert len(store.metadata.images()) == 1
    assert find_image(store.metadata, "example.com/app:2")[0].names == (
        "example.com/app:1",
        "example.com/app:2",
    )


def test_a_failed_copy_leaves_no_image(tmp_path: Path, store: Store) -> None:
    blobs = make_oci_archive(tmp_path / "in.tar")
    # Corrupt a layer inside the archive: same size, other bytes.
    data = (tmp_path / "in.tar").read_bytes()
    layer = blobs["layer1"]
    at = data.index(layer)
    broken = data[:at] + layer.replace(b"second", b"SECOND") + data[at + len(layer) :]
    (tmp_path / "bad.tar").write_bytes(broken)
    destination = StoreDestination(store, "example.com/app:1")
    with reading(f"oci-archive:{tmp_path / 'bad.tar'}") as source, pytest.raises(CapsaError):
        copy_image(source, destination)
    destination.abort()
    assert store.metadata.images() == []
    with pytest.raises(NotFound):
        find_image(store.metadata, "example.com/app:1")
    assert store.metadata.leases() == []
