"""The image-spec's own JSON schemas (../shared/specs/oci-image/schema) validate every
document capsa writes into an OCI layout: oci-layout, index.json, image indexes,
manifests (converted from Docker's too) and image configs (capsa's own included)."""

from __future__ import annotations

import io
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from transport_images import image_source, layer_tar, multi_platform, simple_image

from capsa.oci import media_types as mt
from capsa.oci.image_config import ContainerConfig
from capsa.store.fsops import RecordingFsOps
from capsa.store.store import Store
from capsa.transport.copy import copy_image
from capsa.transport.open import open_destination
from capsa.transport.store.build import apply_changes, commit_layer_image
from capsa.transport.store.source import StoreSource

jsonschema = pytest.importorskip("jsonschema")
referencing = pytest.importorskip("referencing")

# shared/ sits beside the checkout (../shared/specs, as DESIGN.md says)
SCHEMAS = Path(__file__).parents[3].parent / "shared" / "specs" / "oci-image" / "schema"


def _registry() -> Any:
    from referencing.jsonschema import DRAFT4

    def retrieve(uri: str) -> Any:
        # The schemas refer to each other by file name, relative to `id`s that are not
        # where the files are: serve any URI by its last path segment.
        name = uri.rstrip("/").rsplit("/", 1)[-1]
        path = SCHEMAS / name
        if not path.is_file():
            raise referencing.exceptions.NoSuchResource(ref=uri)
        return DRAFT4.create_resource(json.loads(path.read_text()))

    return referencing.Registry(retrieve=retrieve)


@pytest.fixture(scope="module")
def validators() -> dict[str, Any]:
    if not SCHEMAS.is_dir():
        pytest.skip(f"the OCI image-spec schemas are not at {SCHEMAS}")
    registry = _registry()
    out = {}
    for key, name in {
        "manifest": "image-manifest-schema.json",
        "index": "image-index-schema.json",
        "config": "config-schema.json",
        "layout": "image-layout-schema.json",
    }.items():
        schema = json.loads((SCHEMAS / name).read_text())
        out[key] = jsonschema.Draft4Validator(schema, registry=registry)
    return out


def check(validators: dict[str, Any], kind: str, document: object) -> None:
    errors = sorted(validators[kind].iter_errors(document), key=str)
    assert not errors, f"{kind}: {errors[0].message} at {list(errors[0].absolute_path)}"


def check_layout(validators: dict[str, Any], layout: Path) -> int:
    """Validate every document of the layout; the number of blobs checked."""
    check(validators, "layout", json.loads((layout / "oci-layout").read_text()))
    check(validators, "index", json.loads((layout / "index.json").read_text()))
    checked = 0

    def blob(digest: str) -> Any:
        return json.loads((layout / "blobs" / digest.replace(":", "/", 1)).read_bytes())

    def walk(media_type: str, digest: str) -> None:
        nonlocal checked
        document = blob(digest)
        checked += 1
        if mt.is_index(media_type):
            check(validators, "index", document)
            for entry in document["manifests"]:
                walk(entry["mediaType"], entry["digest"])
        else:
            check(validators, "manifest", document)
            check(validators, "config", blob(document["config"]["digest"]))
            checked += 1

    for entry in json.loads((layout / "index.json").read_text())["manifests"]:
        walk(entry["mediaType"], entry["digest"])
    return checked


def copy_into(layout: Path, source: Any, ref: str, **options: object) -> None:
    dst = open_destination(f"oci:{layout}:{ref}")
    copy_image(source, dst, **options)  # type: ignore[arg-type]
    dst.close()


def test_the_schemas_catch_a_bad_manifest(validators: dict[str, Any]) -> None:
    # guards the test itself: a broken $ref resolution would pass everything
    with pytest.raises(AssertionError, match="manifest"):
        check(validators, "manifest", {"schemaVersion": 2, "config": {"digest": "sha256:x"}})
    with pytest.raises(AssertionError):
        check(validators, "config", {"architecture": "amd64", "os": "linux", "rootfs": {}})


def test_layouts_capsa_writes(validators: dict[str, Any], tmp_path: Path) -> None:
    layout = tmp_path / "layout"
    copy_into(layout, image_source(simple_image()), "single")
    copy_into(layout, image_source(simple_image(docker=True)), "converted")  # Docker -> OCI
    src, _ = multi_platform()
    copy_into(layout, src, "multi", all_platforms=True)
    docker_list, _ = multi_platform(docker=True)
    copy_into(layout, docker_list, "multi-converted", all_platforms=True)
    assert check_layout(validators, layout) == 2 + 2 + (1 + 6) + (1 + 6)


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    ops = RecordingFsOps()
    with Store(tmp_path / "storage", driver="vfs", ops=ops) as opened:
        yield opened
    ops.close()


def test_images_capsa_makes(validators: dict[str, Any], store: Store, tmp_path: Path) -> None:
    config = apply_changes(
        ContainerConfig(),
        [
            'CMD ["/bin/sh"]',
            "ENV A=1 B=2",
            "EXPOSE 80 53/udp",
            "LABEL team=a",
            'VOLUME ["/data"]',
            "WORKDIR /srv",
            "USER 1000:1000",
            "STOPSIGNAL SIGTERM",
        ],
    )
    commit_layer_image(
        store,
        io.BytesIO(layer_tar({"etc/motd": b"hi\n"})),
        config=config,
        created="2024-01-01T00:00:00Z",
        created_by="test",
        name="example.com/made:1",
    )
    layout = tmp_path / "out"
    copy_into(layout, StoreSource(store, "example.com/made:1"), "made")
    assert check_layout(validators, layout) == 2
    assert os.listdir(layout / "blobs" / "sha256")
