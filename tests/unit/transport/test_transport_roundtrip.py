"""Every transport to every other: the image that comes out is the image that went in."""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest
from transport_images import BuiltImage, image_source, simple_image

from capsa.oci import media_types as mt
from capsa.oci.digest import Digest
from capsa.oci.manifest import Manifest, parse_manifest_or_index
from capsa.oci.media_types import Compression
from capsa.transport import compression
from capsa.transport.copy import copy_image
from capsa.transport.open import open_destination, open_source
from capsa.transport.types import BlobProgress, ImageSource

TRANSPORTS = ("oci", "oci-archive", "docker-archive")


def location(tmp_path: Path, transport: str, name: str) -> str:
    ref = "example.com/app:1" if transport == "docker-archive" else "v1"
    suffix = "" if transport == "oci" else ".tar"
    return f"{transport}:{tmp_path / name}{suffix}:{ref}"


def copy(src: ImageSource, destination: str, **options: object) -> Digest:
    dst = open_destination(destination)
    try:
        top = copy_image(src, dst, **options)  # type: ignore[arg-type]
    except BaseException:
        dst.abort()
        raise
    dst.close()
    return top.digest


def read_image(text: str) -> tuple[Manifest, bytes, dict[Digest, bytes]]:
    """The manifest, its bytes and every blob of the image at `text`, read back."""
    src = open_source(text)
    try:
        data, media_type = src.top_manifest()
        manifest = parse_manifest_or_index(data, media_type)
        assert isinstance(manifest, Manifest)
        blobs: dict[Digest, bytes] = {}
        for descriptor in (manifest.config, *manifest.layers):
            stream = src.get_blob(descriptor)
            blobs[descriptor.digest] = stream.read()
            stream.close()
            assert Digest.of(blobs[descriptor.digest]) == descriptor.digest
            assert len(blobs[descriptor.digest]) == descriptor.size
        return manifest, data, blobs
    finally:
        src.close()


def uncompressed(data: bytes) -> bytes:
    import io

    kind = compression.detect(data[:4])
    return compression.decompressed(io.BytesIO(data), kind).read()


def assert_same_image(original: BuiltImage, text: str, via_docker_archive: bool) -> None:
    manifest, data, blobs = read_image(text)
    assert blobs[manifest.config.digest] == original.config  # the config is never rewritten
    assert [Digest.of(uncompressed(blobs[layer.digest])) for layer in manifest.layers] == (
        original.diff_ids
    )
    kinds = [mt.layer_compression(layer.media_type) for layer in manifest.layers]
    if via_docker_archive:
        # gzip and plain layers kept as they were; zstd, which Docker's format lacks,
        # decompressed.
        assert kinds == [Compression.GZIP, Compression.NONE, Compression.NONE]
        assert manifest.layers[0].digest == original.parsed.layers[0].digest
        assert manifest.layers[1].digest == original.diff_ids[1]
    else:
        assert kinds == [Compression.GZIP, Compression.ZSTD, Compression.NONE]
        assert [layer.digest for layer in manifest.layers] == [
            layer.digest for layer in original.parsed.layers
        ]
        assert data == original.manifest


@pytest.mark.parametrize(("first", "second"), list(itertools.product(TRANSPORTS, TRANSPORTS)))
def test_every_pair_of_transports(tmp_path: Path, first: str, second: str) -> None:
    image = simple_image()
    a = location(tmp_path, first, "a")
    b = location(tmp_path, second, "b")
    copy(image_source(image), a)
    src = open_source(a)
    try:
        copy(src, b)
    finally:
        src.close()
    final = f"oci:{tmp_path / 'final'}:v1"
    src = open_source(b)
    try:
        copy(src, final)
    finally:
        src.close()
    via_docker = "docker-archive" in (first, second)
    assert_same_image(image, a, first == "docker-archive")
    assert_same_image(image, b, via_docker)
    assert_same_image(image, final, via_docker)


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_docker_image_into_each_transport(tmp_path: Path, transport: str) -> None:
    image = simple_image(docker=True)
    text = location(tmp_path, transport, "x")
    copy(image_source(image), text)
    manifest, _, blobs = read_image(text)
    docker = transport == "docker-archive"
    assert manifest.media_type == (mt.DOCKER_MANIFEST if docker else mt.OCI_MANIFEST)
    assert manifest.config.media_type == (mt.DOCKER_CONFIG if docker else mt.OCI_CONFIG)
    assert all(mt.is_docker(layer.media_type) == docker for layer in manifest.layers)
    assert manifest.config.digest == image.parsed.config.digest
    assert manifest.layers[0].digest == image.parsed.layers[0].digest
    assert blobs[manifest.config.digest] == image.config


def test_oci_to_docker_archive_converts_and_says_so(tmp_path: Path) -> None:
    image = simple_image()
    digest = copy(image_source(image), f"docker-archive:{tmp_path / 'd.tar'}:app:1")
    # The manifest was re-serialised as Docker schema 2: another digest.
    assert digest != image.digest
    manifest, data, _ = read_image(f"docker-archive:{tmp_path / 'd.tar'}:app:1")
    assert Digest.of(data) == digest
    assert manifest.media_type == mt.DOCKER_MANIFEST


def test_progress_reports_every_blob(tmp_path: Path) -> None:
    image = simple_image()
    events: list[BlobProgress] = []
    copy(image_source(image), f"oci:{tmp_path / 'l'}:v1", progress=events.append)
    finished = {e.descriptor.digest for e in events if e.done == e.total}
    assert finished == set(image.blobs)
    assert all(not e.skipped for e in events)
    events.clear()
    copy(image_source(image), f"oci:{tmp_path / 'l'}:v2", progress=events.append)
    assert {e.descriptor.digest for e in events} == set(image.blobs)
    assert all(e.skipped and e.done == e.total for e in events)


def test_archives_are_reproducible(tmp_path: Path) -> None:
    image = simple_image()
    for transport in ("oci-archive", "docker-archive"):
        copy(image_source(image), location(tmp_path, transport, "one"))
        copy(image_source(image), location(tmp_path, transport, "two"))
        assert (tmp_path / "one.tar").read_bytes() == (tmp_path / "two.tar").read_bytes()
