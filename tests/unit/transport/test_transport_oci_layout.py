"""OCI layouts and archives: refs in index.json, several images, refusing what is not one."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import pytest
from transport_images import build_image, image_source, simple_image

from capsa.errors import InvalidArgument, NotFound
from capsa.oci import media_types as mt
from capsa.oci.media_types import Compression
from capsa.transport.copy import copy_image
from capsa.transport.open import open_destination, open_source

REF = "org.opencontainers.image.ref.name"


def small(n: int):  # type: ignore[no-untyped-def]
    return build_image([({f"file{n}": str(n).encode()}, Compression.GZIP)], cmd=[f"/bin/{n}"])


def put(text: str, image, **options) -> None:  # type: ignore[no-untyped-def]
    dst = open_destination(text)
    copy_image(image_source(image), dst, **options)
    dst.close()


def index_of(layout: Path) -> dict:  # type: ignore[type-arg]
    return json.loads((layout / "index.json").read_text())


def test_layout_files(tmp_path: Path) -> None:
    layout = tmp_path / "deep" / "layout"
    put(f"oci:{layout}:v1", simple_image())
    assert json.loads((layout / "oci-layout").read_text()) == {"imageLayoutVersion": "1.0.0"}
    index = index_of(layout)
    assert index["schemaVersion"] == 2
    assert index["mediaType"] == mt.OCI_INDEX
    assert index["manifests"][0]["annotations"] == {REF: "v1"}


def test_refs_added_replaced_and_kept(tmp_path: Path) -> None:
    layout = tmp_path / "l"
    one, two, three = small(1), small(2), small(3)
    put(f"oci:{layout}:one", one)
    put(f"oci:{layout}:two", two)
    # Entries capsa does not know stay where they are.
    index = index_of(layout)
    index["manifests"].append(
        {"mediaType": "application/xml", "digest": "sha256:" + "b" * 64, "size": 1}
    )
    (layout / "index.json").write_text(json.dumps(index))
    put(f"oci:{layout}:one", three)  # moves the ref "one"
    entries = index_of(layout)["manifests"]
    assert [e.get("annotations", {}).get(REF) for e in entries] == ["one", "two", None]
    assert entries[0]["digest"] == str(three.digest)
    assert entries[1]["digest"] == str(two.digest)
    src = open_source(f"oci:{layout}:two")
    assert src.top_manifest() == (two.manifest, mt.OCI_MANIFEST)
    src.close()
    src = open_source(f"oci:{layout}:@0")
    assert src.top_manifest()[0] == three.manifest
    src.close()


def test_unnamed_entries(tmp_path: Path) -> None:
    layout = tmp_path / "l"
    image = small(1)
    put(f"oci:{layout}", image)
    put(f"oci:{layout}", image)  # the same image again: no second entry
    assert len(index_of(layout)["manifests"]) == 1
    src = open_source(f"oci:{layout}")  # the only image needs no name
    assert src.top_manifest()[0] == image.manifest
    src.close()
    put(f"oci:{layout}:v2", small(2))
    with pytest.raises(InvalidArgument, match="holds 2 images; name one") as info:
        open_source(f"oci:{layout}")
    assert "'v2'" in str(info.value)
    with pytest.raises(NotFound, match="no image named 'v3'"):
        open_source(f"oci:{layout}:v3")


def test_name_given_to_copy_wins(tmp_path: Path) -> None:
    layout = tmp_path / "l"
    put(f"oci:{layout}:default", small(1), name="chosen")
    assert index_of(layout)["manifests"][0]["annotations"] == {REF: "chosen"}
    with pytest.raises(InvalidArgument, match="invalid OCI layout ref"):
        put(f"oci:{layout}", small(1), name="no spaces")


def test_concurrent_writers_keep_every_ref(tmp_path: Path) -> None:
    layout = tmp_path / "l"
    put(f"oci:{layout}:seed", small(0))
    errors: list[BaseException] = []

    def write(n: int) -> None:
        try:
            put(f"oci:{layout}:r{n}", small(n))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=write, args=(n,)) for n in range(1, 9)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    refs = {e["annotations"][REF] for e in index_of(layout)["manifests"]}
    assert refs == {"seed"} | {f"r{n}" for n in range(1, 9)}


def test_refuses_what_is_not_a_layout(tmp_path: Path) -> None:
    (tmp_path / "busy").mkdir()
    (tmp_path / "busy" / "file").write_text("x")
    with pytest.raises(InvalidArgument, match="neither an OCI layout nor empty"):
        open_destination(f"oci:{tmp_path / 'busy'}:v1")
    (tmp_path / "file").write_text("x")
    with pytest.raises(InvalidArgument, match="is not a directory"):
        open_destination(f"oci:{tmp_path / 'file'}")
    with pytest.raises(InvalidArgument, match="not an OCI image layout"):
        open_source(f"oci:{tmp_path / 'busy'}")
    with pytest.raises(NotFound, match="no such directory"):
        open_source(f"oci:{tmp_path / 'nowhere'}")
    (tmp_path / "future").mkdir()
    (tmp_path / "future" / "oci-layout").write_text('{"imageLayoutVersion":"2.0.0"}')
    with pytest.raises(InvalidArgument, match=r"version 2\.0\.0 is not supported"):
        open_destination(f"oci:{tmp_path / 'future'}")


def test_empty_directory_becomes_a_layout_and_abort_keeps_it(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    dst = open_destination(f"oci:{tmp_path / 'empty'}:v1")
    dst.abort()
    assert (tmp_path / "empty").is_dir()  # it existed before: not ours to remove


def test_oci_archive_with_several_refs(tmp_path: Path) -> None:
    archive = tmp_path / "a.tar"
    one, two = small(1), small(2)
    dst = open_destination(f"oci-archive:{archive}")
    copy_image(image_source(one), dst, name="one")
    copy_image(image_source(two), dst, name="two")
    dst.close()
    for ref, image in (("one", one), ("two", two)):
        src = open_source(f"oci-archive:{archive}:{ref}")
        assert src.top_manifest()[0] == image.manifest
        src.close()


def test_oci_archive_replaces_an_existing_file(tmp_path: Path) -> None:
    archive = tmp_path / "a.tar"
    put(f"oci-archive:{archive}:x", small(1))
    put(f"oci-archive:{archive}:y", small(2))
    with pytest.raises(NotFound):
        open_source(f"oci-archive:{archive}:x")
    src = open_source(f"oci-archive:{archive}:y")
    src.close()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.tar"]


def test_oci_archive_source_refuses_a_directory(tmp_path: Path) -> None:
    with pytest.raises(InvalidArgument, match="is a directory, not an archive"):
        open_source(f"oci-archive:{tmp_path}")
