"""Conformance, Content Discovery and Content Management: tags list (`n`, `last`,
`Link`), referrers (with the artifactType filter), the catalog, and DELETE of tags,
manifests and blobs."""

from __future__ import annotations

from registry_content import (
    OCI_INDEX,
    OCI_MANIFEST,
    digest_of,
    image_manifest,
    push_blob,
    push_image,
    repo,
)
from registry_servers import Server, only_capsa

TAGS = ["1.0", "1.1", "2.0", "Latest", "alpha", "beta", "latest"]


def _tagged(server: Server) -> str:
    name = repo("tags")
    _, manifest, _ = push_image(server, name, TAGS[0])
    for tag in TAGS[1:]:
        answer = server.request(
            "PUT", f"/v2/{name}/manifests/{tag}", manifest, {"Content-Type": OCI_MANIFEST}
        )
        assert answer.status == 201
    return name


def test_tags_list(registry: Server) -> None:
    name = _tagged(registry)
    answer = registry.request("GET", f"/v2/{name}/tags/list")
    assert answer.status == 200
    listed = answer.json()
    assert listed["name"] == name
    if registry.kind == "capsa":
        assert listed["tags"] == sorted(TAGS)  # ASCII order, as the spec says
    else:  # docker-registry 2.8 lists tags in directory order, against the spec
        assert sorted(listed["tags"]) == sorted(TAGS)


def test_tags_list_pages(registry: Server) -> None:
    only_capsa(registry, "it ignores n and last on tags/list and sends every tag")
    name = _tagged(registry)
    seen: list[str] = []
    path: str | None = f"/v2/{name}/tags/list?n=3"
    while path:
        answer = registry.request("GET", path)
        assert answer.status == 200
        page = answer.json()["tags"]
        assert len(page) <= 3
        seen += page
        link = answer.header("Link")
        path = link[1 : link.index(">")] if link else None
        if link:
            assert 'rel="next"' in link
    assert seen == sorted(TAGS)
    answer = registry.request("GET", f"/v2/{name}/tags/list?n=2&last=2.0")
    assert answer.json()["tags"] == ["Latest", "alpha"]
    answer = registry.request("GET", f"/v2/{name}/tags/list?last=alpha")
    assert answer.json()["tags"] == ["beta", "latest"]
    zero = registry.request("GET", f"/v2/{name}/tags/list?n=0")
    assert zero.json()["tags"] == []
    assert zero.header("Link") is None


def test_tags_of_unknown_repository_is_name_unknown(registry: Server) -> None:
    answer = registry.request("GET", f"/v2/{repo()}/tags/list")
    assert answer.status == 404
    assert answer.codes == ["NAME_UNKNOWN"]


def test_catalog(registry: Server) -> None:
    names = sorted(repo("catalog") for _ in range(3))
    for name in names:
        push_image(registry, name, "v1")
    answer = registry.request("GET", "/v2/_catalog")
    assert answer.status == 200
    listed = answer.json()["repositories"]
    assert [n for n in listed if n.startswith("catalog/")] == names
    assert listed == sorted(listed)
    first = registry.request("GET", "/v2/_catalog?n=1")
    assert len(first.json()["repositories"]) == 1
    assert 'rel="next"' in (first.header("Link") or "")
    after = registry.request("GET", f"/v2/_catalog?n=2&last={names[0]}")
    assert after.json()["repositories"][:1] == [names[1]]


def test_referrers(registry: Server) -> None:
    only_capsa(registry, "it has no referrers API (added in spec 1.1): 404")
    name = repo("referrers")
    subject, manifest, _ = push_image(registry, name, "v1")
    subject_descriptor = {"mediaType": OCI_MANIFEST, "digest": subject, "size": len(manifest)}
    pushed = {}
    for artifact in ("application/vnd.test.sbom", "application/vnd.test.sig"):
        config, layer = b"{}", artifact.encode()
        push_blob(registry, name, config)
        push_blob(registry, name, layer)
        body, document = image_manifest(
            config,
            [layer],
            subject=subject_descriptor,
            artifactType=artifact,
            annotations={"org.test.kind": artifact},
        )
        document["config"]["mediaType"] = "application/vnd.oci.empty.v1+json"
        digest = digest_of(body)
        answer = registry.request(
            "PUT", f"/v2/{name}/manifests/{digest}", body, {"Content-Type": OCI_MANIFEST}
        )
        assert answer.status == 201
        pushed[artifact] = (digest, len(body))
    answer = registry.request("GET", f"/v2/{name}/referrers/{subject}")
    assert answer.status == 200
    assert answer.header("Content-Type") == OCI_INDEX
    index = answer.json()
    assert index["mediaType"] == OCI_INDEX
    found = {entry["artifactType"]: entry for entry in index["manifests"]}
    assert set(found) == set(pushed)
    for artifact, (digest, size) in pushed.items():
        assert found[artifact]["digest"] == digest
        assert found[artifact]["size"] == size
        assert found[artifact]["mediaType"] == OCI_MANIFEST
        assert found[artifact]["annotations"] == {"org.test.kind": artifact}
    filtered = registry.request(
        "GET", f"/v2/{name}/referrers/{subject}?artifactType=application/vnd.test.sig"
    )
    assert filtered.header("OCI-Filters-Applied") == "artifactType"
    assert [e["digest"] for e in filtered.json()["manifests"]] == [
        pushed["application/vnd.test.sig"][0]
    ]
    # Deleting a referrer takes it out of the list.
    registry.request("DELETE", f"/v2/{name}/manifests/{pushed['application/vnd.test.sig'][0]}")
    after = registry.request("GET", f"/v2/{name}/referrers/{subject}")
    assert [e["artifactType"] for e in after.json()["manifests"]] == ["application/vnd.test.sbom"]


def test_referrers_without_referrers_is_an_empty_index(registry: Server) -> None:
    only_capsa(registry, "it has no referrers API (added in spec 1.1): 404")
    name = repo("referrers")
    subject, _, _ = push_image(registry, name, "v1")
    answer = registry.request("GET", f"/v2/{name}/referrers/{subject}")
    assert answer.status == 200
    assert answer.json()["manifests"] == []
    bad = registry.request("GET", f"/v2/{name}/referrers/sha256:bad")
    assert bad.status == 400


def test_referrer_without_artifact_type_takes_the_config_type(registry: Server) -> None:
    only_capsa(registry, "it has no referrers API (added in spec 1.1): 404")
    name = repo("referrers")
    subject, manifest, _ = push_image(registry, name, "v1")
    config, layer = b'{"kind":"sbom"}', b"sbom data"
    push_blob(registry, name, config)
    push_blob(registry, name, layer)
    body, _ = image_manifest(
        config,
        [layer],
        subject={"mediaType": OCI_MANIFEST, "digest": subject, "size": len(manifest)},
    )
    registry.request(
        "PUT", f"/v2/{name}/manifests/{digest_of(body)}", body, {"Content-Type": OCI_MANIFEST}
    )
    entries = registry.request("GET", f"/v2/{name}/referrers/{subject}").json()["manifests"]
    assert [e["artifactType"] for e in entries] == ["application/vnd.oci.image.config.v1+json"]


def test_delete_manifest_by_digest(registry: Server) -> None:
    name = repo("delete")
    digest, _, _ = push_image(registry, name, "v1")
    answer = registry.request("DELETE", f"/v2/{name}/manifests/{digest}")
    assert answer.status == 202
    for reference in (digest, "v1"):
        gone = registry.request(
            "GET", f"/v2/{name}/manifests/{reference}", headers={"Accept": OCI_MANIFEST}
        )
        assert gone.status == 404
        assert gone.codes == ["MANIFEST_UNKNOWN"]
    again = registry.request("DELETE", f"/v2/{name}/manifests/{digest}")
    assert again.status == 404
    assert again.codes == ["MANIFEST_UNKNOWN"]


def test_delete_tag(registry: Server) -> None:
    only_capsa(registry, "it refuses to delete by tag (400 DIGEST_INVALID, which the spec allows)")
    name = repo("delete")
    _, manifest, _ = push_image(registry, name, "v1")
    registry.request("PUT", f"/v2/{name}/manifests/v2", manifest, {"Content-Type": OCI_MANIFEST})
    answer = registry.request("DELETE", f"/v2/{name}/manifests/v1")
    assert answer.status == 202
    assert (
        registry.request("GET", f"/v2/{name}/manifests/v1", headers={"Accept": OCI_MANIFEST}).status
        == 404
    )
    kept = registry.request("GET", f"/v2/{name}/manifests/v2", headers={"Accept": OCI_MANIFEST})
    assert kept.status == 200
    assert registry.request("GET", f"/v2/{name}/tags/list").json()["tags"] == ["v2"]
    unknown = registry.request("DELETE", f"/v2/{name}/manifests/v1")
    assert (unknown.status, unknown.codes) == (404, ["MANIFEST_UNKNOWN"])


def test_delete_in_unknown_repository_is_404(registry: Server) -> None:
    answer = registry.request("DELETE", f"/v2/{repo()}/manifests/{digest_of(b'x')}")
    assert answer.status == 404
    assert answer.codes[0] in ("NAME_UNKNOWN", "MANIFEST_UNKNOWN")


def test_delete_blob(registry: Server) -> None:
    name = repo("delete")
    digest = push_blob(registry, name, b"to be deleted")
    answer = registry.request("DELETE", f"/v2/{name}/blobs/{digest}")
    assert answer.status == 202
    gone = registry.request("GET", f"/v2/{name}/blobs/{digest}")
    assert (gone.status, gone.codes) == (404, ["BLOB_UNKNOWN"])
    again = registry.request("DELETE", f"/v2/{name}/blobs/{digest}")
    assert (again.status, again.codes) == (404, ["BLOB_UNKNOWN"])
