"""Multi-platform images: one platform chosen, the index kept whole, or kept sparse."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from transport_images import MemorySource, image_source, multi_platform, simple_image

from capsa.errors import InvalidArgument, NotFound
from capsa.oci import media_types as mt
from capsa.oci.canonical import canonical_bytes
from capsa.oci.descriptor import Descriptor
from capsa.oci.digest import Digest
from capsa.oci.manifest import Index, Manifest, parse_manifest_or_index
from capsa.oci.platform import Platform, parse_platform
from capsa.transport import copy as copy_module
from capsa.transport.copy import copy_image
from capsa.transport.errors import UnsupportedByDestination
from capsa.transport.open import open_destination, open_source, writing


def blobs_in(layout: Path) -> set[str]:
    return set(os.listdir(layout / "blobs" / "sha256"))


def copy_to_layout(src: MemorySource, layout: Path, **options: object) -> Descriptor:
    dst = open_destination(f"oci:{layout}:v1")
    top = copy_image(src, dst, **options)  # type: ignore[arg-type]
    dst.close()
    return top


def test_host_platform_chosen_by_default(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(copy_module, "host_platform", lambda: Platform("linux", "arm64", "v8"))
    src, images = multi_platform()
    top = copy_to_layout(src, tmp_path / "l")
    chosen = images["linux/arm64/v8"]
    assert top.digest == chosen.digest
    assert blobs_in(tmp_path / "l") == {d.encoded for d in chosen.blobs} | {chosen.digest.encoded}


def test_requested_platform(tmp_path: Path) -> None:
    src, images = multi_platform()
    top = copy_to_layout(src, tmp_path / "l", platform=parse_platform("linux/arm/v7"))
    assert top.digest == images["linux/arm/v7"].digest
    # arm/v6 is not in the index, but an arm/v7 machine runs... nothing older here:
    with pytest.raises(NotFound, match="no image for linux/arm/v6") as info:
        copy_to_layout(src, tmp_path / "m", platform=parse_platform("linux/arm/v6"))
    assert "linux/amd64, linux/arm64/v8, linux/arm/v7" in str(info.value)


def test_whole_index(tmp_path: Path) -> None:
    src, images = multi_platform()
    top = copy_to_layout(src, tmp_path / "l", all_platforms=True)
    assert top.digest == Digest.of(src.top)
    expected = {Digest.of(src.top).encoded}
    for image in images.values():
        expected |= {d.encoded for d in image.blobs} | {image.digest.encoded}
    assert blobs_in(tmp_path / "l") == expected
    back = open_source(f"oci:{tmp_path / 'l'}:v1")
    assert back.top_manifest() == (src.top, mt.OCI_INDEX)
    back.close()


def test_whole_index_round_trips_through_an_oci_archive(tmp_path: Path) -> None:
    src, _ = multi_platform()
    dst = open_destination(f"oci-archive:{tmp_path / 'a.tar'}:multi")
    copy_image(src, dst, all_platforms=True)
    dst.close()
    back = open_source(f"oci-archive:{tmp_path / 'a.tar'}:multi")
    top = copy_to_layout(back, tmp_path / "l", all_platforms=True)  # type: ignore[arg-type]
    back.close()
    assert top.digest == Digest.of(src.top)


def test_sparse_index(tmp_path: Path) -> None:
    src, images = multi_platform()
    top = copy_to_layout(src, tmp_path / "l", keep_index=True, platform=parse_platform("arm64"))
    assert top.digest == Digest.of(src.top)  # the index itself, byte for byte
    chosen = images["linux/arm64/v8"]
    expected = {Digest.of(src.top).encoded, chosen.digest.encoded} | {
        d.encoded for d in chosen.blobs
    }
    assert blobs_in(tmp_path / "l") == expected


def test_docker_manifest_list_converted_for_oci(tmp_path: Path) -> None:
    src, images = multi_platform(docker=True)
    top = copy_to_layout(src, tmp_path / "l", all_platforms=True)
    assert top.media_type == mt.OCI_INDEX
    assert top.digest != Digest.of(src.top)  # converted: re-serialised
    data = (tmp_path / "l" / "blobs" / "sha256" / top.digest.encoded).read_bytes()
    index = parse_manifest_or_index(data)
    assert isinstance(index, Index)
    assert [str(e.platform) for e in index.manifests] == list(images)
    for entry, image in zip(index.manifests, images.values(), strict=True):
        assert entry.media_type == mt.OCI_MANIFEST
        child = (tmp_path / "l" / "blobs" / "sha256" / entry.digest.encoded).read_bytes()
        manifest = parse_manifest_or_index(child)
        assert isinstance(manifest, Manifest)
        assert manifest.config.digest == image.parsed.config.digest
        assert [layer.digest for layer in manifest.layers] == [
            layer.digest for layer in image.parsed.layers
        ]


def test_sparse_docker_list_converted_lists_only_what_it_holds(tmp_path: Path) -> None:
    src, _ = multi_platform(docker=True)
    top = copy_to_layout(src, tmp_path / "l", keep_index=True, platform=parse_platform("arm"))
    data = (tmp_path / "l" / "blobs" / "sha256" / top.digest.encoded).read_bytes()
    index = parse_manifest_or_index(data)
    assert isinstance(index, Index)
    assert [str(e.platform) for e in index.manifests] == ["linux/arm/v7"]


def test_docker_archive_cannot_hold_an_index(tmp_path: Path) -> None:
    src, images = multi_platform()
    archive = tmp_path / "d.tar"
    dst = open_destination(f"docker-archive:{archive}:app:1")
    with pytest.raises(UnsupportedByDestination, match="cannot hold an image index"):
        copy_image(src, dst, all_platforms=True)
    dst.abort()
    assert not archive.exists()
    assert os.listdir(tmp_path) == []
    # One platform goes in fine.
    dst = open_destination(f"docker-archive:{archive}:app:1")
    copy_image(src, dst, platform=parse_platform("linux/amd64"))
    dst.close()
    back = open_source(f"docker-archive:{archive}")
    data, _ = back.top_manifest()
    manifest = parse_manifest_or_index(data)
    assert isinstance(manifest, Manifest)
    assert manifest.config.digest == images["linux/amd64"].parsed.config.digest
    back.close()


def test_nested_index(tmp_path: Path) -> None:
    src, images = multi_platform()
    inner = Descriptor(mt.OCI_INDEX, Digest.of(src.top), len(src.top))
    outer = canonical_bytes(Index((inner,)))
    nested = MemorySource(outer, mt.OCI_INDEX, src.blobs, {**src.manifests})
    top = copy_to_layout(nested, tmp_path / "a", platform=parse_platform("linux/arm64"))
    assert top.digest == images["linux/arm64/v8"].digest
    top = copy_to_layout(nested, tmp_path / "b", all_platforms=True)
    assert top.digest == Digest.of(outer)


def test_platform_of_a_single_image_is_checked(tmp_path: Path) -> None:
    image = simple_image()  # linux/amd64
    with (
        pytest.raises(NotFound, match="is an image for linux/amd64, not for linux/arm64/v8"),
        writing(f"oci:{tmp_path / 'l'}:v1") as dst,
    ):
        copy_image(image_source(image), dst, platform=parse_platform("linux/arm64"))
    assert not (tmp_path / "l").exists()
    top = copy_to_layout(
        image_source(image), tmp_path / "m", platform=parse_platform("linux/amd64")
    )
    assert top.digest == image.digest


def test_all_platforms_excludes_a_platform() -> None:
    src, _ = multi_platform()
    with pytest.raises(InvalidArgument, match="all platforms"):
        copy_image(src, None, all_platforms=True, platform=parse_platform("linux/amd64"))  # type: ignore[arg-type]
