"""Bad bytes are refused, named, and leave nothing behind."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from transport_images import (
    BuiltImage,
    MemorySource,
    build_image,
    image_source,
    multi_platform,
    simple_image,
)

from capsa.errors import CapsaError
from capsa.oci.canonical import canonical_bytes, load_json
from capsa.oci.digest import Digest
from capsa.oci.media_types import Compression
from capsa.transport.copy import copy_image
from capsa.transport.errors import DigestMismatch, SizeMismatch
from capsa.transport.open import open_destination, open_source

TRANSPORTS = ("oci", "oci-archive", "docker-archive")


def target(tmp_path: Path, transport: str) -> str:
    out = tmp_path / "out"
    return {
        "oci": f"oci:{out / 'layout'}:v1",
        "oci-archive": f"oci-archive:{out / 'image.tar'}:v1",
        "docker-archive": f"docker-archive:{out / 'image.tar'}:app:1",
    }[transport]


def attempt(src: MemorySource, destination: str) -> CapsaError:
    dst = open_destination(destination)
    with pytest.raises(CapsaError) as info:
        try:
            copy_image(src, dst)
        except BaseException:
            dst.abort()
            raise
    return info.value


def layer_digest(image: BuiltImage, position: int) -> Digest:
    return image.parsed.layers[position].digest


def tampered(image: BuiltImage, digest: Digest, data: bytes) -> MemorySource:
    src = image_source(image)
    src.blobs[digest] = data
    return src


def nothing_left(tmp_path: Path) -> None:
    out = tmp_path / "out"
    assert sorted(os.listdir(out)) == []


@pytest.fixture(autouse=True)
def out_dir(tmp_path: Path) -> None:
    (tmp_path / "out").mkdir()


@pytest.mark.parametrize("transport", TRANSPORTS)
@pytest.mark.parametrize("position", [0, 2])  # a gzip layer, a plain one
def test_digest_mismatch(tmp_path: Path, transport: str, position: int) -> None:
    image = simple_image()
    digest = layer_digest(image, position)
    original = image.blobs[digest]
    bad = original[:-1] + bytes([original[-1] ^ 1])
    error = attempt(tampered(image, digest, bad), target(tmp_path, transport))
    assert isinstance(error, DigestMismatch)
    assert error.expected == digest
    assert error.actual == Digest.of(bad)
    assert str(digest) in str(error) and str(Digest.of(bad)) in str(error)
    nothing_left(tmp_path)


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_truncated_blob(tmp_path: Path, transport: str) -> None:
    image = simple_image()
    digest = layer_digest(image, 2)
    error = attempt(
        tampered(image, digest, image.blobs[digest][:1000]), target(tmp_path, transport)
    )
    assert isinstance(error, SizeMismatch)
    assert "truncated: 1000 of 10240 bytes" in str(error)
    nothing_left(tmp_path)


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_longer_blob(tmp_path: Path, transport: str) -> None:
    image = simple_image()
    digest = layer_digest(image, 0)
    error = attempt(
        tampered(image, digest, image.blobs[digest] + b"x"), target(tmp_path, transport)
    )
    assert isinstance(error, SizeMismatch)
    assert "longer than its descriptor" in str(error)
    nothing_left(tmp_path)


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_truncated_zstd_layer(tmp_path: Path, transport: str) -> None:
    # Into a docker-archive this layer goes through the decompressor: still refused as
    # truncated, not as a codec error.
    image = simple_image()
    digest = layer_digest(image, 1)
    error = attempt(tampered(image, digest, image.blobs[digest][:20]), target(tmp_path, transport))
    assert isinstance(error, SizeMismatch)
    nothing_left(tmp_path)


def test_config_that_lies_about_diff_ids(tmp_path: Path) -> None:
    # Decompressing for a docker-archive checks the tar against the config's DiffID.
    image = simple_image()
    document = load_json(image.config)
    document["rootfs"]["diff_ids"][1] = "sha256:" + "0" * 64
    from capsa.oci.descriptor import Descriptor
    from capsa.oci.manifest import Manifest

    config = canonical_bytes(document)
    descriptor = Descriptor.from_bytes(image.parsed.config.media_type, config)
    manifest = Manifest(descriptor, image.parsed.layers, media_type=image.media_type)
    blobs = dict(image.blobs)
    blobs[descriptor.digest] = config
    src = MemorySource(canonical_bytes(manifest), image.media_type, blobs)
    error = attempt(src, target(tmp_path, "docker-archive"))
    assert isinstance(error, DigestMismatch)
    assert "uncompressed" in str(error)
    nothing_left(tmp_path)


@pytest.mark.parametrize("transport", ("oci", "oci-archive"))
def test_tampered_manifest_in_an_index(tmp_path: Path, transport: str) -> None:
    src, images = multi_platform()
    child = images["linux/arm64/v8"]
    src.manifests[child.digest] = child.manifest.replace(b'schemaVersion":2', b'schemaVersion":2 ')
    dst = open_destination(target(tmp_path, transport))
    with pytest.raises(SizeMismatch):
        try:
            copy_image(src, dst, all_platforms=True)
        except BaseException:
            dst.abort()
            raise
    nothing_left(tmp_path)


def test_existing_layout_keeps_its_index(tmp_path: Path) -> None:
    layout = tmp_path / "out" / "layout"
    good = simple_image()
    dst = open_destination(f"oci:{layout}:good")
    copy_image(image_source(good), dst)
    dst.close()
    index_before = (layout / "index.json").read_bytes()

    bad = build_image([({"new/file": b"new"}, Compression.NONE)])
    digest = layer_digest(bad, 0)
    error = attempt(tampered(bad, digest, b"\0" * 10240), f"oci:{layout}:bad")
    assert isinstance(error, DigestMismatch)
    assert (layout / "index.json").read_bytes() == index_before
    assert not (layout / "blobs" / "sha256" / Digest.of(b"\0" * 10240).encoded).exists()
    leftovers = [n for n in os.listdir(layout / "blobs" / "sha256") if n.startswith(".")]
    assert leftovers == []
    src = open_source(f"oci:{layout}:good")
    assert src.top_manifest()[0] == good.manifest
    src.close()


def test_truncated_blob_in_a_layout_on_disk(tmp_path: Path) -> None:
    image = simple_image()
    layout = tmp_path / "layout"
    dst = open_destination(f"oci:{layout}:v1")
    copy_image(image_source(image), dst)
    dst.close()
    digest = layer_digest(image, 0)
    blob = layout / "blobs" / "sha256" / digest.encoded
    blob.write_bytes(blob.read_bytes()[:-5])
    src = open_source(f"oci:{layout}:v1")
    dst = open_destination(f"oci-archive:{tmp_path / 'out' / 'x.tar'}")
    with pytest.raises(SizeMismatch):
        try:
            copy_image(src, dst)
        except BaseException:
            dst.abort()
            raise
    src.close()
    nothing_left(tmp_path)


def test_missing_blob(tmp_path: Path) -> None:
    image = simple_image()
    src = image_source(image)
    del src.blobs[layer_digest(image, 1)]
    error = attempt(src, target(tmp_path, "oci-archive"))
    assert "no blob" in str(error)
    nothing_left(tmp_path)
