"""Conformance, Pull: `/v2/`, GET/HEAD of blobs (with Range) and of manifests by tag and
by digest, with content negotiation. Run against capsa and docker-registry."""

from __future__ import annotations

import pytest
from registry_content import ACCEPT_ALL, OCI_MANIFEST, digest_of, push_blob, push_image, repo
from registry_servers import Server, only_capsa


def test_base_endpoint_says_v2(registry: Server) -> None:
    answer = registry.request("GET", "/v2/")
    assert answer.status == 200
    assert answer.header("Docker-Distribution-API-Version") == "registry/2.0"


def test_get_and_head_blob(registry: Server) -> None:
    name = repo()
    data = b"a blob of the pull tests\n" * 100
    digest = push_blob(registry, name, data)
    answer = registry.request("GET", f"/v2/{name}/blobs/{digest}")
    assert answer.status == 200
    assert answer.body == data
    assert answer.header("Docker-Content-Digest") == digest
    head = registry.request("HEAD", f"/v2/{name}/blobs/{digest}")
    assert head.status == 200
    assert head.body == b""
    assert head.header("Content-Length") == str(len(data))
    assert head.header("Docker-Content-Digest") == digest


def test_unknown_blob_is_blob_unknown(registry: Server) -> None:
    name = repo()
    push_blob(registry, name, b"something")
    missing = digest_of(b"never pushed")
    answer = registry.request("GET", f"/v2/{name}/blobs/{missing}")
    assert answer.status == 404
    assert answer.codes == ["BLOB_UNKNOWN"]
    assert registry.request("HEAD", f"/v2/{name}/blobs/{missing}").status == 404


def test_blob_of_another_repository_is_not_served(registry: Server) -> None:
    first, second = repo(), repo()
    digest = push_blob(registry, first, b"only in the first repository")
    push_blob(registry, second, b"something else")
    answer = registry.request("GET", f"/v2/{second}/blobs/{digest}")
    assert answer.status == 404
    assert answer.codes == ["BLOB_UNKNOWN"]


@pytest.mark.parametrize(
    ("header", "start", "end"),
    [("bytes=10-19", 10, 19), ("bytes=90-", 90, 99), ("bytes=-5", 95, 99), ("bytes=0-500", 0, 99)],
)
def test_blob_range(registry: Server, header: str, start: int, end: int) -> None:
    name = repo()
    data = bytes(range(100))
    digest = push_blob(registry, name, data)
    answer = registry.request("GET", f"/v2/{name}/blobs/{digest}", headers={"Range": header})
    assert answer.status == 206
    assert answer.body == data[start : end + 1]
    assert answer.header("Content-Range") == f"bytes {start}-{end}/100"


def test_blob_range_outside_is_416(registry: Server) -> None:
    name = repo()
    digest = push_blob(registry, name, bytes(100))
    answer = registry.request(
        "GET", f"/v2/{name}/blobs/{digest}", headers={"Range": "bytes=200-300"}
    )
    assert answer.status == 416


def test_invalid_digest_is_digest_invalid(registry: Server) -> None:
    name = repo()
    push_blob(registry, name, b"x")
    answer = registry.request("GET", f"/v2/{name}/blobs/sha256:nothex")
    assert answer.status in (400, 404)
    if registry.kind == "capsa":
        assert (answer.status, answer.codes) == (400, ["DIGEST_INVALID"])


def test_get_manifest_by_tag_and_digest(registry: Server) -> None:
    name = repo()
    digest, manifest, _ = push_image(registry, name, "v1")
    for reference in ("v1", digest):
        answer = registry.request(
            "GET", f"/v2/{name}/manifests/{reference}", headers={"Accept": OCI_MANIFEST}
        )
        assert answer.status == 200
        assert answer.body == manifest  # the exact bytes pushed
        assert answer.header("Content-Type") == OCI_MANIFEST
        assert answer.header("Docker-Content-Digest") == digest
        head = registry.request(
            "HEAD", f"/v2/{name}/manifests/{reference}", headers={"Accept": ACCEPT_ALL}
        )
        assert head.status == 200
        assert head.header("Content-Length") == str(len(manifest))
        assert head.header("Docker-Content-Digest") == digest


def test_unknown_manifest_is_manifest_unknown(registry: Server) -> None:
    name = repo()
    push_image(registry, name, "v1")
    for reference in ("nosuchtag", digest_of(b"no such manifest")):
        answer = registry.request(
            "GET", f"/v2/{name}/manifests/{reference}", headers={"Accept": ACCEPT_ALL}
        )
        assert answer.status == 404
        assert answer.codes == ["MANIFEST_UNKNOWN"]


def test_manifest_of_unknown_repository_is_404(registry: Server) -> None:
    answer = registry.request("GET", f"/v2/{repo()}/manifests/v1", headers={"Accept": ACCEPT_ALL})
    assert answer.status == 404
    assert answer.codes[0] in ("MANIFEST_UNKNOWN", "NAME_UNKNOWN")


def test_accept_without_the_manifest_type_is_refused(registry: Server) -> None:
    name = repo()
    push_image(registry, name, "v1")
    answer = registry.request(
        "GET",
        f"/v2/{name}/manifests/v1",
        headers={"Accept": "application/vnd.docker.distribution.manifest.list.v2+json"},
    )
    assert answer.status == 404
    assert answer.codes == ["MANIFEST_UNKNOWN"]


def test_no_accept_header_gets_the_manifest(registry: Server) -> None:
    only_capsa(registry, "it answers 404 to an OCI manifest GET without Accept")
    name = repo()
    _, manifest, _ = push_image(registry, name, "v1")
    answer = registry.request("GET", f"/v2/{name}/manifests/v1")
    assert answer.status == 200
    assert answer.body == manifest


def test_invalid_repository_name_is_refused(registry: Server) -> None:
    answer = registry.request("GET", "/v2/Upper/Case/tags/list")
    # docker-registry's router does not match such names at all (plain 404).
    assert answer.status in (400, 404)
    if registry.kind == "capsa":
        assert (answer.status, answer.codes) == (400, ["NAME_INVALID"])


def test_too_long_repository_name_is_name_invalid(registry: Server) -> None:
    only_capsa(registry, "it answers a name over 255 characters with 500 UNKNOWN")
    name = "/".join(["a" * 50] * 6)  # 305 characters
    answer = registry.request("POST", f"/v2/{name}/blobs/uploads/", b"")
    assert answer.status == 400
    assert answer.codes == ["NAME_INVALID"]
