"""Multi-platform images in the store: an index kept whole with every platform whose
blobs are there, the host's image by default, --platform to choose, names that name the
index, and copies back out (whole, or rewritten to what the store holds)."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from transport_images import MemorySource, multi_platform, simple_image

from capsa.errors import NotFound
from capsa.oci import media_types as mt
from capsa.oci.digest import Digest
from capsa.oci.platform import Platform, parse_platform
from capsa.store.fsops import RecordingFsOps
from capsa.store.store import Store
from capsa.transport.copy import copy_image
from capsa.transport.open import open_destination, open_source
from capsa.transport.store import dest as dest_module
from capsa.transport.store.dest import StoreDestination
from capsa.transport.store.find import find_image
from capsa.transport.store.source import StoreSource

NAME = "docker.io/library/multi:1"


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    ops = RecordingFsOps()
    with Store(tmp_path / "storage", driver="vfs", ops=ops) as opened:
        yield opened
    ops.close()


@pytest.fixture(autouse=True)
def arm64_host(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(dest_module, "host_platform", lambda: Platform("linux", "arm64", "v8"))


def load(store: Store, src: MemorySource, **options: object) -> StoreDestination:
    destination = StoreDestination(store)
    try:
        copy_image(src, destination, name=NAME, **options)  # type: ignore[arg-type]
    except BaseException:
        destination.abort()
        raise
    destination.close()
    return destination


def without_platform(src: MemorySource, images: dict[str, object], key: str) -> None:
    """Drop one platform's layers from the source, as a partial pull's archive has."""
    image = images[key]
    for layer in image.parsed.layers:  # type: ignore[attr-defined]
        del src.blobs[layer.digest]


def test_every_platform_kept_and_the_host_one_by_default(store: Store) -> None:
    src, images = multi_platform()
    destination = load(store, src, available_platforms=True)
    index = destination.committed_index
    assert index is not None
    assert index.digest == str(Digest.of(src.top))  # the index kept byte for byte
    assert [m.platform for m in index.members] == list(images)
    assert store.content.read_verified(index.digest) == src.top
    record, name = find_image(store.metadata, "multi:1")
    assert name == NAME
    assert record.manifest_digest == str(images["linux/arm64/v8"].digest)
    assert record.platform == "linux/arm64/v8"
    for key, image in images.items():
        chosen, _ = find_image(store.metadata, "multi:1", parse_platform(key))
        assert chosen.id == str(image.parsed.config.digest)
    with pytest.raises(NotFound, match="no image for linux/ppc64le") as info:
        find_image(store.metadata, "multi:1", parse_platform("linux/ppc64le"))
    assert "linux/amd64, linux/arm/v7, linux/arm64/v8" in str(info.value)
    # every member is an image of the store, none of them dangling
    assert store.metadata.named_images() == {m.image_id for m in index.members}


def test_only_platforms_whose_blobs_are_there(store: Store) -> None:
    src, images = multi_platform()
    without_platform(src, images, "linux/arm/v7")
    destination = load(store, src, available_platforms=True)
    index = destination.committed_index
    assert index is not None
    assert index.digest == str(Digest.of(src.top))  # still the same index
    assert [m.platform for m in index.members] == ["linux/amd64", "linux/arm64/v8"]
    with pytest.raises(NotFound, match="no image for linux/arm/v7"):
        find_image(store.metadata, NAME, parse_platform("linux/arm/v7"))


def test_an_index_with_no_complete_platform_is_refused(store: Store) -> None:
    src, images = multi_platform()
    for key in images:
        without_platform(src, images, key)
    with pytest.raises(NotFound, match="no platform of the image index has all its blobs"):
        load(store, src, available_platforms=True)
    assert store.metadata.images() == []
    assert store.metadata.indexes() == []


def test_one_platform_keeps_the_index(store: Store) -> None:
    src, _ = multi_platform()
    destination = load(store, src, platform=parse_platform("linux/amd64"), keep_index=True)
    index = destination.committed_index
    assert index is not None and index.digest == str(Digest.of(src.top))
    assert [m.platform for m in index.members] == ["linux/amd64"]
    record, _ = find_image(store.metadata, NAME)  # no arm64 here: the one there is
    assert record.platform == "linux/amd64"
    with pytest.raises(NotFound, match="no image for linux/arm/v6"):
        load(store, src, platform=parse_platform("linux/arm/v6"), keep_index=True)


def test_a_docker_manifest_list_is_kept_too(store: Store) -> None:
    src, images = multi_platform(docker=True)
    destination = load(store, src, available_platforms=True)
    index = destination.committed_index
    assert index is not None and index.media_type == mt.DOCKER_MANIFEST_LIST
    assert len(index.members) == len(images)


def layout_index(layout: Path, ref: str) -> dict[str, object]:
    index = json.loads((layout / "index.json").read_text())
    entry = next(
        e
        for e in index["manifests"]
        if e["annotations"]["org.opencontainers.image.ref.name"] == ref
    )
    blob = layout / "blobs" / "sha256" / entry["digest"].removeprefix("sha256:")
    document = json.loads(blob.read_bytes())
    assert isinstance(document, dict)
    return document


def test_saved_whole_when_whole_and_rewritten_when_partial(store: Store, tmp_path: Path) -> None:
    src, _ = multi_platform()
    load(store, src, available_platforms=True)
    layout = tmp_path / "layout"
    source = StoreSource(store, NAME)
    assert source.index == str(Digest.of(src.top))
    dst = open_destination(f"oci:{layout}:whole")
    top = copy_image(source, dst, available_platforms=True)
    dst.close()
    assert top.digest == Digest.of(src.top)  # all there: the same index

    other = tmp_path / "partial-store"
    ops = RecordingFsOps()
    with Store(other, driver="vfs", ops=ops) as partial:
        src2, images2 = multi_platform()
        without_platform(src2, images2, "linux/amd64")
        load(partial, src2, available_platforms=True)
        dst = open_destination(f"oci:{layout}:partial")
        top = copy_image(StoreSource(partial, NAME), dst, available_platforms=True)
        dst.close()
    ops.close()
    assert top.digest != Digest.of(src.top)  # rewritten: a layout holds no missing blob
    document = layout_index(layout, "partial")
    listed = [m["platform"]["architecture"] for m in document["manifests"]]  # type: ignore[index]
    assert listed == ["arm64", "arm"]
    for entry in document["manifests"]:  # type: ignore[attr-defined]
        assert (layout / "blobs" / "sha256" / entry["digest"][7:]).exists()
    # and it loads back with both platforms
    back = open_source(f"oci:{layout}:partial")
    third = tmp_path / "third"
    ops = RecordingFsOps()
    with Store(third, driver="vfs", ops=ops) as again:
        destination = StoreDestination(again)
        copy_image(back, destination, name=NAME, available_platforms=True)
        destination.close()
        assert destination.committed_index is not None
        assert len(destination.committed_index.members) == 2
    ops.close()
    back.close()


def test_one_platform_out_of_the_store(store: Store, tmp_path: Path) -> None:
    src, images = multi_platform()
    load(store, src, available_platforms=True)
    source = StoreSource(store, NAME, platform=parse_platform("linux/arm/v7"))
    assert source.index is None
    dst = open_destination(f"docker-archive:{tmp_path / 'd.tar'}:multi:1")
    copy_image(source, dst)
    dst.close()
    back = open_source(f"docker-archive:{tmp_path / 'd.tar'}")
    data, _ = back.top_manifest()
    back.close()
    assert json.loads(data)["config"]["digest"] == str(images["linux/arm/v7"].parsed.config.digest)


def test_a_single_image_checks_its_platform(store: Store) -> None:
    image = simple_image()  # linux/amd64
    src = MemorySource(image.manifest, image.media_type, image.blobs)
    load(store, src, available_platforms=True)
    record, _ = find_image(store.metadata, NAME, parse_platform("linux/amd64"))
    assert record.platform == "linux/amd64"
    with pytest.raises(NotFound, match="was found but has no image for linux/arm64/v8"):
        find_image(store.metadata, NAME, parse_platform("arm64"))
    assert os.path.exists(store.content.path(Digest.parse(record.id)))
