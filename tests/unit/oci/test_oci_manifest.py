"""Manifests, indexes and descriptors: one test per refused field, round trips that keep
what capsa does not know, Docker schema 2 accepted and schema 1 refused."""

from __future__ import annotations

import base64
import copy
import json
from collections.abc import Callable
from typing import Any

import pytest

from capsa.errors import InvalidArgument
from capsa.oci import media_types
from capsa.oci.canonical import canonical_bytes, load_json
from capsa.oci.descriptor import EMPTY_JSON, Descriptor
from capsa.oci.digest import Digest
from capsa.oci.manifest import Index, Manifest, parse_manifest_or_index
from capsa.oci.platform import Platform

D1 = "sha256:9834876dcfb05cb167a5c24953eba58c4ac89b1adf57f28f2f9d09af107ee8f0"
D2 = "sha256:3c3a4604a545cdc127456d94e421cd355bca5b528f4a9c1905b15da2eb4a4c6b"
D3 = "sha256:ec4b8955958665577945c89419d1af06b5f7636b4ac3da7f12184802ad867736"
CONFIG = "sha256:b5b2b2c507a0944348e0303114d8d93aaaa081732b86451d9bce1f432a537bc7"
SUBJECT = "sha256:5b0bcabd1ed22e9fb1310cf6c2dec7cdef19f0ad69efa1f392e94a4333501270"
EMPTY = "sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a"


def oci_manifest() -> dict[str, Any]:
    """The example of the image-spec's manifest.md."""
    return {
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {
            "mediaType": "application/vnd.oci.image.config.v1+json",
            "digest": CONFIG,
            "size": 7023,
        },
        "layers": [
            {
                "mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
                "digest": D1,
                "size": 32654,
            },
            {
                "mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
                "digest": D2,
                "size": 16724,
            },
            {
                "mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
                "digest": D3,
                "size": 73109,
            },
        ],
        "subject": {
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "digest": SUBJECT,
            "size": 7682,
        },
        "annotations": {"com.example.key1": "value1", "com.example.key2": "value2"},
    }


def docker_manifest() -> dict[str, Any]:
    """Docker's schema 2 example (distribution's manifest-v2-2.md): size before digest."""
    return {
        "schemaVersion": 2,
        "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
        "config": {
            "mediaType": "application/vnd.docker.container.image.v1+json",
            "size": 7023,
            "digest": CONFIG,
        },
        "layers": [
            {
                "mediaType": "application/vnd.docker.image.rootfs.diff.tar.gzip",
                "size": 32654,
                "digest": D1,
            },
            {
                "mediaType": "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip",
                "size": 16724,
                "digest": D2,
                "urls": ["https://mcr.microsoft.com/v2/windows/blobs/" + D2],
            },
        ],
    }


def oci_index() -> dict[str, Any]:
    """The image-spec's index example with multiple media types."""
    return {
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": [
            {
                "mediaType": "application/vnd.oci.image.manifest.v1+json",
                "size": 7143,
                "digest": D1,
                "platform": {"architecture": "ppc64le", "os": "linux"},
            },
            {"mediaType": "application/vnd.oci.image.index.v1+json", "size": 7682, "digest": D2},
        ],
        "annotations": {"com.example.key1": "value1", "com.example.key2": "value2"},
    }


def docker_manifest_list() -> dict[str, Any]:
    return {
        "schemaVersion": 2,
        "mediaType": "application/vnd.docker.distribution.manifest.list.v2+json",
        "manifests": [
            {
                "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
                "size": 7143,
                "digest": D1,
                "platform": {"architecture": "ppc64le", "os": "linux"},
            },
            {
                "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
                "size": 7682,
                "digest": D2,
                "platform": {"architecture": "amd64", "os": "linux", "features": ["sse4"]},
            },
        ],
    }


def schema1_manifest() -> dict[str, Any]:
    return {
        "schemaVersion": 1,
        "name": "hello-world",
        "tag": "latest",
        "architecture": "amd64",
        "fsLayers": [{"blobSum": D1}],
        "history": [{"v1Compatibility": "{}"}],
        "signatures": [],
    }


def _refused(call: Callable[[], object], field: str) -> InvalidArgument:
    with pytest.raises(InvalidArgument) as info:
        call()
    assert info.value.message.startswith(f"invalid {field}: "), info.value.message
    assert "\n" not in str(info.value)
    return info.value


# -- descriptors ---------------------------------------------------------------------------


def test_descriptor_from_bytes() -> None:
    descriptor = Descriptor.from_bytes("application/vnd.example+json", b"{}")
    assert descriptor.digest == EMPTY
    assert descriptor.size == 2
    assert descriptor.to_json() == {
        "mediaType": "application/vnd.example+json",
        "digest": EMPTY,
        "size": 2,
    }
    assert Descriptor.from_bytes("a/b", b"x", algorithm="sha512").digest.algorithm == "sha512"


def test_empty_json_descriptor_is_the_specs() -> None:
    document = {
        "mediaType": "application/vnd.oci.empty.v1+json",
        "digest": EMPTY,
        "size": 2,
        "data": "e30=",
    }
    assert EMPTY_JSON.to_json() == document
    assert Descriptor.from_json(document) == EMPTY_JSON
    assert EMPTY_JSON.embedded() == b"{}"


def test_descriptor_round_trip_keeps_everything() -> None:
    document = {
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "digest": D1,
        "size": 7143,
        "urls": ["https://example.com/blob"],
        "annotations": {"org.opencontainers.image.ref.name": "1.0"},
        "data": base64.b64encode(b"x").decode(),
        "platform": {"architecture": "arm64", "os": "linux", "variant": "v8"},
        "artifactType": "application/vnd.example+type",
        "com.example.unknown": {"nested": [1, 2]},
    }
    document["size"] = 1
    document["digest"] = str(Digest.of(b"x"))
    descriptor = Descriptor.from_json(document)
    assert descriptor.to_json() == document
    assert list(descriptor.to_json()) == list(document)
    assert descriptor.platform == Platform("linux", "arm64", "v8")
    assert descriptor.extra == {"com.example.unknown": {"nested": [1, 2]}}


def test_descriptor_hash_and_equality() -> None:
    a = Descriptor(media_types.OCI_LAYER, Digest.parse(D1), 1)
    b = Descriptor(media_types.OCI_LAYER, Digest.parse(D1), 1)
    assert a == b and hash(a) == hash(b)
    assert a != Descriptor(media_types.OCI_LAYER, Digest.parse(D1), 2)
    assert len({a, b}) == 1


def test_unregistered_digest_algorithms_are_kept() -> None:
    document = {
        "mediaType": "a/b",
        "digest": "multihash+base58:QmRZxt2b1FVZPNqd8hsiykDL3TdBDeTSPX9Kv46HmX4Gx8",
        "size": 3,
        "data": "YWJj",
    }
    assert Descriptor.from_json(document).to_json() == document


DESCRIPTOR_REFUSALS: list[tuple[Callable[[dict[str, Any]], Any], str]] = [
    (lambda d: d.pop("mediaType"), "d.mediaType"),
    (lambda d: d.update(mediaType=1), "d.mediaType"),
    (lambda d: d.update(mediaType="text"), "d.mediaType"),
    (lambda d: d.update(mediaType="application/json; charset=utf-8"), "d.mediaType"),
    (lambda d: d.pop("digest"), "d.digest"),
    (lambda d: d.update(digest="sha256:abc"), "d.digest"),
    (lambda d: d.update(digest="sha256:" + "A" * 64), "d.digest"),
    (lambda d: d.update(digest="nocolon"), "d.digest"),
    (lambda d: d.update(digest=None), "d.digest"),
    (lambda d: d.pop("size"), "d.size"),
    (lambda d: d.update(size=-1), "d.size"),
    (lambda d: d.update(size=2**63), "d.size"),
    (lambda d: d.update(size="2"), "d.size"),
    (lambda d: d.update(size=2.0), "d.size"),
    (lambda d: d.update(size=True), "d.size"),
    (lambda d: d.update(urls="https://x"), "d.urls"),
    (lambda d: d.update(urls=[1]), "d.urls[0]"),
    (lambda d: d.update(urls=["not a url"]), "d.urls[0]"),
    (lambda d: d.update(urls=["https://ok", "/relative"]), "d.urls[1]"),
    (lambda d: d.update(annotations=[]), "d.annotations"),
    (lambda d: d.update(annotations={"k": 1}), "d.annotations.k"),
    (lambda d: d.update(annotations={"k": None}), "d.annotations.k"),
    (lambda d: d.update(data=1), "d.data"),
    (lambda d: d.update(data="e30"), "d.data"),  # bad padding
    (lambda d: d.update(data="e3$="), "d.data"),
    (lambda d: d.update(data="e30=", size=3), "d.data"),  # size mismatch
    (lambda d: d.update(data="W10="), "d.data"),  # `[]`: digest mismatch
    (lambda d: d.update(artifactType="nope"), "d.artifactType"),
    (lambda d: d.update(platform="linux/amd64"), "d.platform"),
    (lambda d: d.update(platform={"os": "linux"}), "d.platform.architecture"),
]


@pytest.mark.parametrize(("mutate", "field"), DESCRIPTOR_REFUSALS)
def test_descriptor_refusals(mutate: Callable[[dict[str, Any]], Any], field: str) -> None:
    document = {"mediaType": "application/vnd.oci.empty.v1+json", "digest": EMPTY, "size": 2}
    mutate(document)
    _refused(lambda: Descriptor.from_json(document, "d"), field)


def test_descriptor_must_be_an_object() -> None:
    error = _refused(lambda: Descriptor.from_json("sha256:x"), "descriptor")
    assert "must be an object, not a string" in error.message


# -- manifests -----------------------------------------------------------------------------


def test_oci_manifest() -> None:
    manifest = Manifest.from_json(oci_manifest())
    assert manifest.media_type == media_types.OCI_MANIFEST
    assert not manifest.is_docker
    assert manifest.config.digest == CONFIG
    assert [layer.size for layer in manifest.layers] == [32654, 16724, 73109]
    assert manifest.subject is not None and manifest.subject.digest == SUBJECT
    assert manifest.annotations["com.example.key1"] == "value1"


def test_docker_manifest() -> None:
    manifest = Manifest.from_json(docker_manifest())
    assert manifest.is_docker
    assert manifest.config.media_type == media_types.DOCKER_CONFIG
    assert media_types.is_nondistributable(manifest.layers[1].media_type)
    assert manifest.layers[1].urls == ("https://mcr.microsoft.com/v2/windows/blobs/" + D2,)


@pytest.mark.parametrize("document", [oci_manifest(), docker_manifest()])
def test_manifest_round_trip(document: dict[str, Any]) -> None:
    assert Manifest.from_json(document).to_json() == document


def test_manifest_round_trip_keeps_unknown_fields_and_annotations() -> None:
    document = oci_manifest()
    document["com.example.future"] = {"x": [1, "2", None]}
    document["config"]["annotations"] = {"org.example": "c"}
    document["config"]["newField"] = True
    document["layers"][1]["annotations"] = {"org.opencontainers.image.title": "layer.tar"}
    document["layers"][2]["com.example.extra"] = 3
    document["artifactType"] = "application/vnd.example+type"
    again = Manifest.from_json(document).to_json()
    assert again == document
    assert again["com.example.future"] == {"x": [1, "2", None]}


def test_manifest_without_media_type_is_accepted_and_stays_without() -> None:
    document = oci_manifest()
    del document["mediaType"]
    manifest = Manifest.from_json(document)
    assert manifest.media_type == ""
    assert "mediaType" not in manifest.to_json()


def test_manifest_with_no_layers_is_accepted() -> None:
    # The schema says minItems 1 but the spec only says SHOULD; BuildKit writes
    # `FROM scratch` images with no layers.
    document = oci_manifest()
    document["layers"] = []
    assert Manifest.from_json(document).layers == ()


def test_unknown_layer_and_config_media_types_are_accepted() -> None:
    # "Implementations storing or copying image manifests MUST NOT error" on them.
    document = oci_manifest()
    document["config"]["mediaType"] = "application/vnd.example.config.v1+json"
    document["layers"][0]["mediaType"] = "application/vnd.example.data.v1.tar+gzip"
    Manifest.from_json(document)


def test_artifact_with_empty_config() -> None:
    document = {
        "schemaVersion": 2,
        "mediaType": media_types.OCI_MANIFEST,
        "artifactType": "application/vnd.example+type",
        "config": EMPTY_JSON.to_json(),
        "layers": [EMPTY_JSON.to_json()],
    }
    manifest = Manifest.from_json(document)
    assert manifest.artifact_type == "application/vnd.example+type"
    assert manifest.to_json() == document


MANIFEST_REFUSALS: list[tuple[Callable[[dict[str, Any]], Any], str]] = [
    (lambda m: m.pop("schemaVersion"), "manifest.schemaVersion"),
    (lambda m: m.update(schemaVersion=3), "manifest.schemaVersion"),
    (lambda m: m.update(schemaVersion="2"), "manifest.schemaVersion"),
    (lambda m: m.update(schemaVersion=True), "manifest.schemaVersion"),
    (lambda m: m.update(schemaVersion=2.5), "manifest.schemaVersion"),
    (lambda m: m.update(mediaType=2), "manifest.mediaType"),
    (lambda m: m.update(mediaType="manifest"), "manifest.mediaType"),
    (lambda m: m.update(mediaType=media_types.OCI_INDEX), "manifest.mediaType"),
    (lambda m: m.update(mediaType=media_types.OCI_CONFIG), "manifest.mediaType"),
    (lambda m: m.update(manifests=[]), "manifest.manifests"),
    (lambda m: m.update(artifactType=""), "manifest.artifactType"),
    (lambda m: m.update(artifactType=["a/b"]), "manifest.artifactType"),
    (lambda m: m.pop("config"), "manifest.config"),
    (lambda m: m.update(config=[]), "manifest.config"),
    (lambda m: m["config"].pop("mediaType"), "manifest.config.mediaType"),
    (lambda m: m["config"].update(digest="sha256:xyz"), "manifest.config.digest"),
    (lambda m: m["config"].update(size=-7023), "manifest.config.size"),
    (lambda m: m["config"].update(mediaType=media_types.OCI_EMPTY), "manifest.artifactType"),
    (lambda m: m.pop("layers"), "manifest.layers"),
    (lambda m: m.update(layers={}), "manifest.layers"),
    (lambda m: m.update(layers=None), "manifest.layers"),
    (lambda m: m["layers"].__setitem__(2, "sha256:abc"), "manifest.layers[2]"),
    (lambda m: m["layers"][2].update(digest=D1[:-1]), "manifest.layers[2].digest"),
    (lambda m: m["layers"][1].pop("size"), "manifest.layers[1].size"),
    (lambda m: m["layers"][0].update(mediaType=""), "manifest.layers[0].mediaType"),
    (lambda m: m["layers"][0].update(urls=["ftp:// bad"]), "manifest.layers[0].urls[0]"),
    (lambda m: m["layers"][0].update(annotations={"a": 1}), "manifest.layers[0].annotations.a"),
    (lambda m: m["subject"].update(digest="md5"), "manifest.subject.digest"),
    (lambda m: m.update(subject="sha256:x"), "manifest.subject"),
    (lambda m: m.update(annotations=["a=b"]), "manifest.annotations"),
    (lambda m: m["annotations"].update(k=False), "manifest.annotations.k"),
]


@pytest.mark.parametrize(("mutate", "field"), MANIFEST_REFUSALS)
def test_manifest_refusals(mutate: Callable[[dict[str, Any]], Any], field: str) -> None:
    document = oci_manifest()
    mutate(document)
    _refused(lambda: Manifest.from_json(document), field)


def test_manifest_error_names_the_layer_and_why() -> None:
    document = oci_manifest()
    document["layers"][2]["digest"] = "sha256:abc"
    error = _refused(lambda: Manifest.from_json(document), "manifest.layers[2].digest")
    assert "64 lowercase hex" in error.message


def test_manifest_refuses_to_be_an_index() -> None:
    _refused(lambda: Manifest.from_json(oci_index()), "manifest.mediaType")
    document = oci_index()
    del document["mediaType"]
    _refused(lambda: Manifest.from_json(document), "manifest.manifests")


def test_schema1_is_refused_clearly() -> None:
    with pytest.raises(InvalidArgument, match="schema 1 is not supported") as info:
        Manifest.from_json(schema1_manifest())
    assert "skopeo" in (info.value.hint or "")
    document = docker_manifest()
    document["mediaType"] = media_types.DOCKER_SCHEMA1_SIGNED_MANIFEST
    with pytest.raises(InvalidArgument, match="schema 1 is not supported"):
        Manifest.from_json(document)
    with pytest.raises(InvalidArgument, match="schema 1 is not supported"):
        Index.from_json(schema1_manifest())


def test_manifest_constructed_by_capsa() -> None:
    config = Descriptor.from_bytes(media_types.OCI_CONFIG, b'{"architecture":"amd64"}')
    layer = Descriptor.from_bytes(media_types.OCI_LAYER_GZIP, b"layer")
    manifest = Manifest(config, (layer,), annotations={"org.opencontainers.image.created": "now"})
    document = manifest.to_json()
    assert list(document) == ["schemaVersion", "mediaType", "config", "layers", "annotations"]
    assert Manifest.from_json(document) == manifest


# -- indexes -------------------------------------------------------------------------------


def test_oci_index() -> None:
    index = Index.from_json(oci_index())
    assert not index.is_docker
    assert index.manifests[0].platform == Platform("linux", "ppc64le")
    assert index.manifests[1].platform is None
    assert media_types.is_index(index.manifests[1].media_type)


def test_docker_manifest_list() -> None:
    index = Index.from_json(docker_manifest_list())
    assert index.is_docker
    platform = index.manifests[1].platform
    assert platform is not None and platform.extra == {"features": ["sse4"]}


@pytest.mark.parametrize("document", [oci_index(), docker_manifest_list()])
def test_index_round_trip(document: dict[str, Any]) -> None:
    assert Index.from_json(document).to_json() == document


def test_index_round_trip_keeps_unknown_fields() -> None:
    document = oci_index()
    document["com.example.extra"] = "kept"
    document["manifests"][0]["annotations"] = {"vnd.docker.reference.type": "attestation"}
    document["manifests"][1]["platform"] = {"architecture": "amd64", "os": "linux", "x": 1}
    document["subject"] = {"mediaType": media_types.OCI_MANIFEST, "digest": SUBJECT, "size": 1}
    assert Index.from_json(document).to_json() == document


def test_empty_index_and_unknown_entry_types_are_accepted() -> None:
    document = oci_index()
    document["manifests"] = []
    assert Index.from_json(document).manifests == ()
    document["manifests"] = [{"mediaType": "application/vnd.example+json", "digest": D1, "size": 1}]
    Index.from_json(document)


INDEX_REFUSALS: list[tuple[Callable[[dict[str, Any]], Any], str]] = [
    (lambda i: i.pop("schemaVersion"), "index.schemaVersion"),
    (lambda i: i.update(schemaVersion=3), "index.schemaVersion"),
    (lambda i: i.update(mediaType=media_types.OCI_MANIFEST), "index.mediaType"),
    (lambda i: i.update(mediaType=media_types.DOCKER_MANIFEST), "index.mediaType"),
    (lambda i: i.update(mediaType="x"), "index.mediaType"),
    (lambda i: i.update(artifactType=1), "index.artifactType"),
    (lambda i: i.update(config={}), "index.config"),
    (lambda i: i.update(layers=[]), "index.layers"),
    (lambda i: i.pop("manifests"), "index.manifests"),
    (lambda i: i.update(manifests={}), "index.manifests"),
    (lambda i: i["manifests"].append(1), "index.manifests[2]"),
    (lambda i: i["manifests"][1].update(digest="sha256"), "index.manifests[1].digest"),
    (lambda i: i["manifests"][1].update(size=None), "index.manifests[1].size"),
    (lambda i: i["manifests"][0].update(platform=[]), "index.manifests[0].platform"),
    (
        lambda i: i["manifests"][0]["platform"].pop("architecture"),
        "index.manifests[0].platform.architecture",
    ),
    (lambda i: i["manifests"][0]["platform"].pop("os"), "index.manifests[0].platform.os"),
    (
        lambda i: i["manifests"][0]["platform"].update(variant=8),
        "index.manifests[0].platform.variant",
    ),
    (
        lambda i: i["manifests"][0]["platform"].update({"os.features": "win32k"}),
        "index.manifests[0].platform.os.features",
    ),
    (
        lambda i: i["manifests"][0]["platform"].update({"os.version": 10}),
        "index.manifests[0].platform.os.version",
    ),
    (lambda i: i.update(subject={}), "index.subject.mediaType"),
    (lambda i: i.update(annotations={"a": ["b"]}), "index.annotations.a"),
]


@pytest.mark.parametrize(("mutate", "field"), INDEX_REFUSALS)
def test_index_refusals(mutate: Callable[[dict[str, Any]], Any], field: str) -> None:
    document = oci_index()
    mutate(document)
    _refused(lambda: Index.from_json(document), field)


# -- bytes: canonical form, strict reading, sniffing -----------------------------------------


def test_canonical_bytes_are_compact_and_keep_order() -> None:
    data = canonical_bytes({"b": 1, "a": [1, {"z": "é", "y": None}]})
    assert data == '{"b":1,"a":[1,{"z":"é","y":null}]}'.encode()


def test_canonical_bytes_of_documents() -> None:
    manifest = Manifest.from_json(oci_manifest())
    assert canonical_bytes(manifest) == canonical_bytes(manifest.to_json())
    assert canonical_bytes(manifest).startswith(b'{"schemaVersion":2,"mediaType":')


def test_canonical_bytes_refuses_what_json_cannot_say() -> None:
    with pytest.raises(InvalidArgument):
        canonical_bytes({"x": float("nan")})
    with pytest.raises(InvalidArgument):
        canonical_bytes({"x": object()})
    with pytest.raises(InvalidArgument):
        canonical_bytes({"x": "\ud800"})


def test_capsa_written_manifest_is_byte_exact_through_a_round_trip() -> None:
    config = Descriptor.from_bytes(media_types.OCI_CONFIG, b"{}")
    layers = tuple(Descriptor.from_bytes(media_types.OCI_LAYER_ZSTD, bytes([n])) for n in range(3))
    stored = canonical_bytes(Manifest(config, layers, annotations={"k": "ü"}))
    again = canonical_bytes(Manifest.from_json(load_json(stored)))
    assert again == stored
    assert Digest.of(again) == Digest.of(stored)


def test_digest_is_of_the_stored_bytes_never_a_reserialisation() -> None:
    # A Docker-written manifest (indented, size before digest) re-serialises to other
    # bytes: its digest is only ever taken of the bytes as stored.
    stored = json.dumps(docker_manifest(), indent=3).encode()
    manifest = parse_manifest_or_index(stored)
    descriptor = Descriptor.from_bytes(media_types.DOCKER_MANIFEST, stored)
    assert descriptor.digest == Digest.of(stored)
    assert canonical_bytes(manifest) != stored
    assert Digest.of(canonical_bytes(manifest)) != descriptor.digest
    assert manifest.to_json() == docker_manifest()


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"", "not JSON"),
        (b"{", "not JSON"),
        (b'{"a":1} x', "not JSON"),
        (b"[]", "must be a JSON object"),
        (b'"manifest"', "must be a JSON object"),
        (b'{"a":1,"a":2}', "appears twice"),
        (b'{"a":{"b":1,"b":1}}', "appears twice"),
        (b'{"a":NaN}', "NaN is not a JSON number"),
        (b'{"a":Infinity}', "Infinity"),
        (b'{"a":"\xff"}', "not UTF-8"),
    ],
)
def test_load_json_refuses(data: bytes, reason: str) -> None:
    with pytest.raises(InvalidArgument, match="invalid manifest") as info:
        load_json(data, "manifest")
    assert reason in info.value.message


def test_load_json_says_where() -> None:
    with pytest.raises(InvalidArgument, match="line 2 column 1"):
        load_json(b'{"a":1,\n}', "manifest")


def _bytes(document: dict[str, Any]) -> bytes:
    return json.dumps(document).encode()


def test_parse_manifest_or_index_by_declared_type() -> None:
    assert isinstance(parse_manifest_or_index(_bytes(oci_manifest())), Manifest)
    assert isinstance(parse_manifest_or_index(_bytes(docker_manifest())), Manifest)
    assert isinstance(parse_manifest_or_index(_bytes(oci_index())), Index)
    assert isinstance(parse_manifest_or_index(_bytes(docker_manifest_list())), Index)


def test_parse_manifest_or_index_without_declared_type() -> None:
    manifest, index = oci_manifest(), oci_index()
    del manifest["mediaType"], index["mediaType"]
    assert isinstance(parse_manifest_or_index(_bytes(manifest)), Manifest)
    assert isinstance(parse_manifest_or_index(_bytes(index)), Index)
    assert isinstance(parse_manifest_or_index(_bytes(index), media_types.OCI_INDEX), Index)
    # A media type that says nothing about the kind (a registry's application/json).
    assert isinstance(parse_manifest_or_index(_bytes(index), "application/json"), Index)
    # Given as a manifest, shaped as an index: refused by the manifest's checks.
    with pytest.raises(InvalidArgument, match=r"manifest\.manifests"):
        parse_manifest_or_index(_bytes(index), media_types.OCI_MANIFEST)


def test_parse_manifest_or_index_refuses_confusion() -> None:
    with pytest.raises(InvalidArgument, match="says it is"):
        parse_manifest_or_index(_bytes(oci_manifest()), media_types.OCI_INDEX)
    with pytest.raises(InvalidArgument, match="says it is"):
        parse_manifest_or_index(_bytes(docker_manifest_list()), media_types.DOCKER_MANIFEST)
    # Same kind, other family: the document's own type wins.
    manifest = parse_manifest_or_index(_bytes(docker_manifest()), media_types.OCI_MANIFEST)
    assert isinstance(manifest, Manifest) and manifest.is_docker


def test_parse_manifest_or_index_refuses_schema1_and_other_types() -> None:
    for media_type in (None, media_types.DOCKER_SCHEMA1_SIGNED_MANIFEST):
        with pytest.raises(InvalidArgument, match="schema 1 is not supported"):
            parse_manifest_or_index(_bytes(schema1_manifest()), media_type)
    signed = copy.deepcopy(docker_manifest())
    signed["mediaType"] = media_types.DOCKER_SCHEMA1_MANIFEST
    with pytest.raises(InvalidArgument, match="schema 1 is not supported"):
        parse_manifest_or_index(_bytes(signed))
    other = oci_manifest()
    other["mediaType"] = "application/vnd.example+json"
    with pytest.raises(InvalidArgument, match="not an image manifest or index"):
        parse_manifest_or_index(_bytes(other))
