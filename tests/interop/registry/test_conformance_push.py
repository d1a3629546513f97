"""Conformance, Push: monolithic (POST+PUT, single POST), chunked PATCHes with
Content-Range and 416 when out of order, resumable uploads (GET on the upload URL),
cancel, cross-repository mounts, and manifests (verified before they are kept)."""

from __future__ import annotations

import hashlib
import json
import os

from registry_content import (
    ACCEPT_ALL,
    DOCKER_MANIFEST,
    OCI_INDEX,
    OCI_MANIFEST,
    absolute,
    digest_of,
    image_manifest,
    push_blob,
    push_image,
    repo,
    start_upload,
    with_query,
)
from registry_servers import Server, only_capsa


def _blob_is_absent(server: Server, name: str, digest: str) -> None:
    assert server.request("HEAD", f"/v2/{name}/blobs/{digest}").status == 404


def test_post_then_put(registry: Server) -> None:
    name = repo()
    data = os.urandom(5000)
    upload = start_upload(registry, name)
    location = upload.header("Location")
    assert location and "/blobs/uploads/" in location
    digest = digest_of(data)
    answer = registry.request(
        "PUT",
        with_query(location, f"digest={digest}"),
        data,
        {"Content-Type": "application/octet-stream"},
    )
    assert answer.status == 201
    assert absolute(answer.header("Location") or "") == f"/v2/{name}/blobs/{digest}"
    assert answer.header("Docker-Content-Digest") == digest
    assert registry.request("GET", f"/v2/{name}/blobs/{digest}").body == data


def test_single_post_with_digest(registry: Server) -> None:
    only_capsa(registry, "it ignores the body of a POST with ?digest= and opens a session (202)")
    name = repo()
    data = os.urandom(3000)
    digest = digest_of(data)
    answer = registry.request(
        "POST",
        f"/v2/{name}/blobs/uploads/?digest={digest}",
        data,
        {"Content-Type": "application/octet-stream"},
    )
    assert answer.status == 201
    assert absolute(answer.header("Location") or "") == f"/v2/{name}/blobs/{digest}"
    assert registry.request("GET", f"/v2/{name}/blobs/{digest}").body == data


def test_single_post_with_wrong_digest_keeps_nothing(registry: Server) -> None:
    only_capsa(registry, "it ignores the body of a POST with ?digest=")
    name = repo()
    data = os.urandom(3000)
    wrong = digest_of(b"other content")
    answer = registry.request("POST", f"/v2/{name}/blobs/uploads/?digest={wrong}", data)
    assert (answer.status, answer.codes) == (400, ["DIGEST_INVALID"])
    _blob_is_absent(registry, name, wrong)
    _blob_is_absent(registry, name, digest_of(data))


def test_wrong_digest_is_digest_invalid_and_nothing_is_kept(registry: Server) -> None:
    name = repo()
    data = os.urandom(4000)
    location = start_upload(registry, name).header("Location") or ""
    wrong = digest_of(b"not this")
    answer = registry.request("PUT", with_query(location, f"digest={wrong}"), data)
    assert answer.status == 400
    assert answer.codes == ["DIGEST_INVALID"]
    _blob_is_absent(registry, name, wrong)
    _blob_is_absent(registry, name, digest_of(data))


def test_put_without_digest_is_refused(registry: Server) -> None:
    name = repo()
    location = start_upload(registry, name).header("Location") or ""
    answer = registry.request("PUT", absolute(location), b"data")
    assert answer.status == 400
    assert answer.codes == ["DIGEST_INVALID"]


def test_unsupported_digest_algorithm_is_refused(registry: Server) -> None:
    name = repo()
    location = start_upload(registry, name).header("Location") or ""
    answer = registry.request("PUT", with_query(location, "digest=md5:abcdef"), b"data")
    assert answer.status == 400
    assert answer.codes == ["DIGEST_INVALID"]


def test_sha512_upload(registry: Server) -> None:
    name = repo()
    data = os.urandom(3000)
    answer = registry.request("POST", f"/v2/{name}/blobs/uploads/?digest-algorithm=sha512", b"")
    assert answer.status == 202
    digest = f"sha512:{hashlib.sha512(data).hexdigest()}"
    location = answer.header("Location") or ""
    answer = registry.request("PUT", with_query(location, f"digest={digest}"), data)
    assert answer.status == 201
    assert registry.request("GET", f"/v2/{name}/blobs/{digest}").body == data


def test_chunked_upload(registry: Server) -> None:
    name = repo()
    data = os.urandom(30000)
    upload = start_upload(registry, name)
    location = upload.header("Location") or ""
    pieces = [data[:10000], data[10000:25000], data[25000:]]
    offset = 0
    for piece in pieces[:2]:
        answer = registry.request(
            "PATCH",
            absolute(location),
            piece,
            {
                "Content-Type": "application/octet-stream",
                "Content-Range": f"{offset}-{offset + len(piece) - 1}",
            },
        )
        assert answer.status == 202, answer.body
        offset += len(piece)
        assert answer.header("Range") == f"0-{offset - 1}"
        location = answer.header("Location") or location
    digest = digest_of(data)
    answer = registry.request(
        "PUT",
        with_query(location, f"digest={digest}"),
        pieces[2],
        {"Content-Range": f"{offset}-{len(data) - 1}", "Content-Type": "application/octet-stream"},
    )
    assert answer.status == 201, answer.body
    assert registry.request("GET", f"/v2/{name}/blobs/{digest}").body == data


def test_chunked_upload_without_content_range(registry: Server) -> None:
    """Docker's own client streams PATCHes without Content-Range; both registries take it."""
    name = repo()
    data = os.urandom(20000)
    location = start_upload(registry, name).header("Location") or ""
    answer = registry.request("PATCH", absolute(location), data[:7000])
    assert answer.status == 202
    location = answer.header("Location") or location
    answer = registry.request("PATCH", absolute(location), data[7000:])
    location = answer.header("Location") or location
    answer = registry.request("PUT", with_query(location, f"digest={digest_of(data)}"), b"")
    assert answer.status == 201


def test_out_of_order_chunk_is_416(registry: Server) -> None:
    name = repo()
    location = start_upload(registry, name).header("Location") or ""
    answer = registry.request("PATCH", absolute(location), b"x" * 100, {"Content-Range": "0-99"})
    assert answer.status == 202
    location = answer.header("Location") or location
    if registry.kind == "capsa":  # docker-registry 2.8 takes a chunk out of order
        answer = registry.request(
            "PATCH", absolute(location), b"y" * 100, {"Content-Range": "200-299"}
        )
        assert answer.status == 416
        assert answer.header("Range") == "0-99"
    # The spec: a GET on the upload URL says where the upload is.
    status = registry.request("GET", absolute(location))
    assert status.status == 204
    assert status.header("Range") == "0-99"
    assert status.header("Location")


def test_resumed_upload_continues_from_its_range(registry: Server) -> None:
    name = repo()
    data = os.urandom(9000)
    location = start_upload(registry, name).header("Location") or ""
    answer = registry.request("PATCH", absolute(location), data[:4000], {"Content-Range": "0-3999"})
    location = answer.header("Location") or location
    status = registry.request("GET", absolute(location))
    assert status.status == 204
    end = int((status.header("Range") or "0-0").split("-")[1])
    location = status.header("Location") or location
    answer = registry.request(
        "PATCH",
        absolute(location),
        data[end + 1 :],
        {"Content-Range": f"{end + 1}-{len(data) - 1}"},
    )
    assert answer.status == 202
    location = answer.header("Location") or location
    answer = registry.request("PUT", with_query(location, f"digest={digest_of(data)}"), b"")
    assert answer.status == 201


def test_chunk_with_wrong_length_is_size_invalid(registry: Server) -> None:
    only_capsa(registry, "it takes a chunk whose length disagrees with its Content-Range (202)")
    name = repo()
    location = start_upload(registry, name).header("Location") or ""
    answer = registry.request("PATCH", absolute(location), b"x" * 50, {"Content-Range": "0-99"})
    assert (answer.status, answer.codes) == (400, ["SIZE_INVALID"])


def test_malformed_content_range_is_blob_upload_invalid(registry: Server) -> None:
    only_capsa(registry, "it takes a PATCH with a malformed Content-Range (202)")
    name = repo()
    location = start_upload(registry, name).header("Location") or ""
    answer = registry.request("PATCH", absolute(location), b"x" * 10, {"Content-Range": "ten"})
    assert (answer.status, answer.codes) == (400, ["BLOB_UPLOAD_INVALID"])


def test_cancel_upload(registry: Server) -> None:
    name = repo()
    location = start_upload(registry, name).header("Location") or ""
    answer = registry.request("PATCH", absolute(location), b"abc")
    location = answer.header("Location") or location
    answer = registry.request("DELETE", absolute(location))
    assert answer.status == 204
    again = registry.request("GET", absolute(location))
    assert again.status == 404
    assert again.codes == ["BLOB_UPLOAD_UNKNOWN"]


def test_unknown_upload_is_blob_upload_unknown(registry: Server) -> None:
    name = repo()
    push_blob(registry, name, b"x")
    path = f"/v2/{name}/blobs/uploads/00000000-0000-4000-8000-000000000000"
    for method in ("GET", "PATCH", "DELETE"):
        answer = registry.request(method, path, b"" if method == "PATCH" else None)
        assert answer.status == 404, method
        if registry.kind == "capsa":  # docker-registry: BLOB_UPLOAD_INVALID, no _state
            assert answer.codes == ["BLOB_UPLOAD_UNKNOWN"], method


def test_cross_repository_mount(registry: Server) -> None:
    source, target = repo(), repo()
    data = os.urandom(1000)
    digest = push_blob(registry, source, data)
    answer = registry.request(
        "POST", f"/v2/{target}/blobs/uploads/?mount={digest}&from={source}", b""
    )
    assert answer.status == 201
    assert absolute(answer.header("Location") or "") == f"/v2/{target}/blobs/{digest}"
    assert answer.header("Docker-Content-Digest") == digest
    assert registry.request("GET", f"/v2/{target}/blobs/{digest}").body == data


def test_mount_of_missing_blob_starts_an_upload(registry: Server) -> None:
    source, target = repo(), repo()
    push_blob(registry, source, b"something")
    missing = digest_of(b"missing")
    answer = registry.request(
        "POST", f"/v2/{target}/blobs/uploads/?mount={missing}&from={source}", b""
    )
    assert answer.status == 202
    assert "/blobs/uploads/" in (answer.header("Location") or "")


def test_push_manifest_by_tag_and_by_digest(registry: Server) -> None:
    name = repo()
    digest, manifest, _ = push_image(registry, name, "v1")
    answer = registry.request(
        "PUT", f"/v2/{name}/manifests/{digest}", manifest, {"Content-Type": OCI_MANIFEST}
    )
    assert answer.status == 201
    assert answer.header("Docker-Content-Digest") == digest
    assert absolute(answer.header("Location") or "") == f"/v2/{name}/manifests/{digest}"


def test_push_docker_schema2_manifest(registry: Server) -> None:
    name = repo()
    config, layer = b'{"os":"linux","architecture":"amd64"}', os.urandom(100)
    push_blob(registry, name, config)
    push_blob(registry, name, layer)
    document = {
        "schemaVersion": 2,
        "mediaType": DOCKER_MANIFEST,
        "config": {
            "mediaType": "application/vnd.docker.container.image.v1+json",
            "digest": digest_of(config),
            "size": len(config),
        },
        "layers": [
            {
                "mediaType": "application/vnd.docker.image.rootfs.diff.tar.gzip",
                "digest": digest_of(layer),
                "size": len(layer),
            }
        ],
    }
    manifest = json.dumps(document).encode()
    answer = registry.request(
        "PUT", f"/v2/{name}/manifests/latest", manifest, {"Content-Type": DOCKER_MANIFEST}
    )
    assert answer.status == 201
    got = registry.request(
        "GET", f"/v2/{name}/manifests/latest", headers={"Accept": DOCKER_MANIFEST}
    )
    assert got.header("Content-Type") == DOCKER_MANIFEST
    assert got.body == manifest


def test_push_index(registry: Server) -> None:
    name = repo()
    digest, manifest, _ = push_image(registry, name, "amd64")
    index = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": OCI_INDEX,
            "manifests": [
                {
                    "mediaType": OCI_MANIFEST,
                    "digest": digest,
                    "size": len(manifest),
                    "platform": {"architecture": "amd64", "os": "linux"},
                }
            ],
        }
    ).encode()
    answer = registry.request(
        "PUT", f"/v2/{name}/manifests/multi", index, {"Content-Type": OCI_INDEX}
    )
    assert answer.status == 201
    got = registry.request("GET", f"/v2/{name}/manifests/multi", headers={"Accept": ACCEPT_ALL})
    assert got.header("Content-Type") == OCI_INDEX
    assert got.body == index


def test_index_of_unknown_manifest_is_manifest_blob_unknown(registry: Server) -> None:
    name = repo()
    push_image(registry, name, "v1")
    index = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": OCI_INDEX,
            "manifests": [{"mediaType": OCI_MANIFEST, "digest": digest_of(b"nothing"), "size": 7}],
        }
    ).encode()
    answer = registry.request(
        "PUT", f"/v2/{name}/manifests/multi", index, {"Content-Type": OCI_INDEX}
    )
    assert answer.status == 400
    assert answer.codes == ["MANIFEST_BLOB_UNKNOWN"]


def test_manifest_with_missing_blobs_is_manifest_blob_unknown(registry: Server) -> None:
    name = repo()
    config, layer = b"{}", b"layer never pushed"
    push_blob(registry, name, config)
    manifest, _ = image_manifest(config, [layer, b"another missing layer"])
    answer = registry.request(
        "PUT", f"/v2/{name}/manifests/v1", manifest, {"Content-Type": OCI_MANIFEST}
    )
    assert answer.status == 400
    assert set(answer.codes) == {"MANIFEST_BLOB_UNKNOWN"}
    if registry.kind == "capsa":
        assert len(answer.codes) == 2  # one error per missing blob
    got = registry.request("GET", f"/v2/{name}/manifests/v1", headers={"Accept": OCI_MANIFEST})
    assert got.status == 404


def test_invalid_manifest_is_manifest_invalid(registry: Server) -> None:
    name = repo()
    push_blob(registry, name, b"x")
    bodies = [b"{not json"]
    if registry.kind == "capsa":  # docker-registry: a manifest without config is
        # DIGEST_INVALID and MANIFEST_BLOB_UNKNOWN (it reads the empty config digest)
        bodies.append(b'{"schemaVersion": 2, "mediaType": "%s"}' % OCI_MANIFEST.encode())
    for body in bodies:
        answer = registry.request(
            "PUT", f"/v2/{name}/manifests/v1", body, {"Content-Type": OCI_MANIFEST}
        )
        assert answer.status == 400, body
        assert answer.codes == ["MANIFEST_INVALID"], body


def test_manifest_media_type_must_match_content_type(registry: Server) -> None:
    name = repo()
    _, manifest, _ = push_image(registry, name, "v1")
    answer = registry.request(
        "PUT", f"/v2/{name}/manifests/v2", manifest, {"Content-Type": DOCKER_MANIFEST}
    )
    assert (answer.status, answer.codes) == (400, ["MANIFEST_INVALID"])


def test_manifest_pushed_by_wrong_digest_is_digest_invalid(registry: Server) -> None:
    name = repo()
    _, manifest, _ = push_image(registry, name, "v1")
    wrong = digest_of(b"another document")
    answer = registry.request(
        "PUT", f"/v2/{name}/manifests/{wrong}", manifest, {"Content-Type": OCI_MANIFEST}
    )
    assert answer.status == 400
    assert answer.codes == ["DIGEST_INVALID"]


def test_manifest_too_large_is_413(registry: Server) -> None:
    only_capsa(registry, "it answers a manifest over its 4 MiB limit with 400, not 413")
    name = repo()
    push_blob(registry, name, b"x")
    body = b'{"schemaVersion":2,"annotations":{"a":"' + b"x" * (5 << 20) + b'"}}'
    answer = registry.request(
        "PUT", f"/v2/{name}/manifests/big", body, {"Content-Type": OCI_MANIFEST}
    )
    assert answer.status == 413
    assert answer.codes == ["MANIFEST_INVALID"]


def test_push_by_digest_with_tags(registry: Server) -> None:
    only_capsa(registry, "it ignores ?tag= on a manifest pushed by digest (added in spec 1.1)")
    name = repo()
    digest, manifest, _ = push_image(registry, name, None)
    answer = registry.request(
        "PUT",
        f"/v2/{name}/manifests/{digest}?tag=1.0&tag=latest",
        manifest,
        {"Content-Type": OCI_MANIFEST},
    )
    assert answer.status == 201
    assert answer.header("OCI-Tag") == "1.0, latest"
    tags = registry.request("GET", f"/v2/{name}/tags/list").json()["tags"]
    assert tags == ["1.0", "latest"]


def test_manifest_with_subject_says_oci_subject(registry: Server) -> None:
    only_capsa(registry, "it has no referrers API and ignores subject (added in spec 1.1)")
    name = repo()
    subject, manifest, _ = push_image(registry, name, "v1")
    subject_descriptor = {"mediaType": OCI_MANIFEST, "digest": subject, "size": len(manifest)}
    digest, _, _ = push_image(
        registry, name, None, subject=subject_descriptor, artifactType="application/vnd.test.sig"
    )
    answer = registry.request(
        "HEAD", f"/v2/{name}/manifests/{digest}", headers={"Accept": OCI_MANIFEST}
    )
    assert answer.status == 200
    config, layer = b"{}", b"sbom"
    push_blob(registry, name, config)
    push_blob(registry, name, layer)
    body, _ = image_manifest(config, [layer], subject=subject_descriptor)
    answer = registry.request(
        "PUT", f"/v2/{name}/manifests/{digest_of(body)}", body, {"Content-Type": OCI_MANIFEST}
    )
    assert answer.status == 201
    assert answer.header("OCI-Subject") == subject


def test_subject_may_be_pushed_before_its_manifest(registry: Server) -> None:
    name = repo()
    config, layer = b"{}", b"signature"
    push_blob(registry, name, config)
    push_blob(registry, name, layer)
    absent = {"mediaType": OCI_MANIFEST, "digest": digest_of(b"later"), "size": 5}
    body, _ = image_manifest(config, [layer], subject=absent)
    answer = registry.request(
        "PUT", f"/v2/{name}/manifests/{digest_of(body)}", body, {"Content-Type": OCI_MANIFEST}
    )
    assert answer.status == 201
