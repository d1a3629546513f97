from __future__ import annotations

import pytest

from capsa.errors import InvalidArgument
from capsa.oci import media_types as mt
from capsa.oci.media_types import Compression

# media type -> (manifest, index, layer, compression or None, nondistributable)
TABLE = [
    (mt.OCI_MANIFEST, True, False, False, None, False),
    (mt.DOCKER_MANIFEST, True, False, False, None, False),
    (mt.OCI_INDEX, False, True, False, None, False),
    (mt.DOCKER_MANIFEST_LIST, False, True, False, None, False),
    (mt.OCI_CONFIG, False, False, False, None, False),
    (mt.DOCKER_CONFIG, False, False, False, None, False),
    (mt.OCI_EMPTY, False, False, False, None, False),
    (mt.DOCKER_SCHEMA1_SIGNED_MANIFEST, False, False, False, None, False),
    (mt.OCI_LAYER, False, False, True, Compression.NONE, False),
    (mt.OCI_LAYER_GZIP, False, False, True, Compression.GZIP, False),
    (mt.OCI_LAYER_ZSTD, False, False, True, Compression.ZSTD, False),
    (mt.OCI_LAYER_NONDISTRIBUTABLE, False, False, True, Compression.NONE, True),
    (mt.OCI_LAYER_NONDISTRIBUTABLE_GZIP, False, False, True, Compression.GZIP, True),
    (mt.OCI_LAYER_NONDISTRIBUTABLE_ZSTD, False, False, True, Compression.ZSTD, True),
    (mt.DOCKER_LAYER_GZIP, False, False, True, Compression.GZIP, False),
    (mt.DOCKER_LAYER, False, False, True, Compression.NONE, False),
    (mt.DOCKER_LAYER_ZSTD, False, False, True, Compression.ZSTD, False),
    (mt.DOCKER_FOREIGN_LAYER_GZIP, False, False, True, Compression.GZIP, True),
    (
        "application/vnd.docker.image.rootfs.foreign.diff.tar",
        False,
        False,
        True,
        Compression.NONE,
        True,
    ),
    # Suffixes must match the family: OCI uses +codec, Docker .codec.
    ("application/vnd.oci.image.layer.v1.tar.gzip", False, False, False, None, False),
    ("application/vnd.docker.image.rootfs.diff.tar+gzip", False, False, False, None, False),
    ("application/vnd.oci.image.layer.v1.tar+bzip2", False, False, False, None, False),
    ("application/vnd.oci.image.layer.v1.tar+gzip+encrypted", False, False, False, None, False),
    ("application/octet-stream", False, False, False, None, False),
    ("application/vnd.example+type", False, False, False, None, False),
]


@pytest.mark.parametrize(
    ("media_type", "manifest", "index", "layer", "compression", "nondistributable"), TABLE
)
def test_classification(
    media_type: str,
    manifest: bool,
    index: bool,
    layer: bool,
    compression: Compression | None,
    nondistributable: bool,
) -> None:
    assert mt.is_manifest(media_type) is manifest
    assert mt.is_index(media_type) is index
    assert mt.is_layer(media_type) is layer
    assert mt.is_nondistributable(media_type) is nondistributable
    assert mt.is_valid(media_type)
    if compression is None:
        with pytest.raises(InvalidArgument, match="not a filesystem layer"):
            mt.layer_compression(media_type)
    else:
        assert mt.layer_compression(media_type) is compression


def test_configs_and_schema1() -> None:
    assert mt.is_config(mt.OCI_CONFIG) and mt.is_config(mt.DOCKER_CONFIG)
    assert not mt.is_config(mt.OCI_EMPTY)
    assert mt.is_schema1(mt.DOCKER_SCHEMA1_MANIFEST)
    assert mt.is_schema1(mt.DOCKER_SCHEMA1_SIGNED_MANIFEST)
    assert not mt.is_schema1(mt.DOCKER_MANIFEST)
    assert mt.is_docker(mt.DOCKER_MANIFEST) and not mt.is_docker(mt.OCI_MANIFEST)


@pytest.mark.parametrize("compression", list(Compression))
def test_layer_media_type_round_trips(compression: Compression) -> None:
    for docker in (False, True):
        media_type = mt.layer_media_type(compression, docker=docker)
        assert mt.layer_compression(media_type) is compression
        assert mt.is_docker(media_type) is docker
        assert not mt.is_nondistributable(media_type)


def test_docker_gzip_layer_is_the_one_docker_writes() -> None:
    assert mt.layer_media_type(Compression.GZIP, docker=True) == (
        "application/vnd.docker.image.rootfs.diff.tar.gzip"
    )


@pytest.mark.parametrize(
    "text",
    [
        "",
        "application",
        "application/",
        "/json",
        "application/json; charset=utf-8",
        "a b/c",
        "application/" + "x" * 128,
        "-application/json",
    ],
)
def test_invalid_media_types(text: str) -> None:
    assert not mt.is_valid(text)


def test_accept_list_covers_manifests_and_indexes() -> None:
    assert set(mt.ACCEPTED_MANIFEST_TYPES) == mt.MANIFEST_TYPES | mt.INDEX_TYPES
