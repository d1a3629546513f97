"""The registry's ASGI application driven in-process (no sockets): routing, ranges,
manifest checks and a push/pull through the app itself."""

from __future__ import annotations

import asyncio
import hashlib
import json
from pathlib import Path
from typing import Any

import pytest

from capsa.registry.errors import RegistryError
from capsa.registry.http import routes
from capsa.registry.http.app import make_app
from capsa.registry.http.blobs import _range
from capsa.registry.manifests import accepts, check_manifest
from capsa.registry.options import ServeOptions


def _call(
    app: Any, method: str, path: str, body: bytes = b"", headers: dict[str, str] | None = None
) -> tuple[int, dict[str, str], bytes]:
    path, _, query = path.partition("?")
    scope = {
        "type": "http",
        "method": method,
        "path": path,
        "query_string": query.encode(),
        "headers": [(k.lower().encode(), v.encode()) for k, v in (headers or {}).items()],
        "scheme": "http",
        "server": ("127.0.0.1", 5000),
        "extensions": {},
    }
    messages = [{"type": "http.request", "body": body, "more_body": False}]
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return messages.pop(0) if messages else {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    asyncio.run(app(scope, receive, send))
    start = sent[0]
    answer_headers = {k.decode(): v.decode() for k, v in start["headers"]}
    data = b"".join(m.get("body", b"") for m in sent[1:])
    return start["status"], answer_headers, data


@pytest.fixture
def app(tmp_path: Path) -> Any:
    return make_app(ServeOptions(storage=tmp_path / "storage"))


def test_routes() -> None:
    assert routes.parse("/v2/") == routes.Route(routes.BASE)
    assert routes.parse("/v2/a/b/blobs/sha256:x") == routes.Route(routes.BLOB, "a/b", "sha256:x")
    assert routes.parse("/v2/a/blobs/uploads/") == routes.Route(routes.UPLOADS, "a")
    assert routes.parse("/v2/a/blobs/uploads/u1") == routes.Route(routes.UPLOAD, "a", "u1")
    assert routes.parse("/v2/a/b/manifests/v1") == routes.Route(routes.MANIFEST, "a/b", "v1")
    assert routes.parse("/v2/x/tags/list") == routes.Route(routes.TAGS, "x")
    assert routes.parse("/v2/x/referrers/sha256:y") == routes.Route(
        routes.REFERRERS, "x", "sha256:y"
    )
    assert routes.parse("/v2/_catalog") == routes.Route(routes.CATALOG)
    assert routes.parse("/elsewhere") is None


def test_ranges() -> None:
    assert _range(None, 100) is None
    assert _range("bytes=0-9", 100) == (0, 10)
    assert _range("bytes=-10", 100) == (90, 10)
    assert _range("bytes=95-", 100) == (95, 5)
    assert _range("bytes=0-1,5-6", 100) is None  # several ranges: the whole blob
    with pytest.raises(RegistryError) as outside:
        _range("bytes=100-", 100)
    assert outside.value.status == 416


def test_manifest_checks() -> None:
    config = {
        "mediaType": "application/vnd.oci.image.config.v1+json",
        "digest": "sha256:" + "a" * 64,
        "size": 2,
    }
    document = {"schemaVersion": 2, "config": config, "layers": []}
    pushed = check_manifest(json.dumps(document).encode(), "application/json")
    assert pushed.media_type == "application/vnd.oci.image.manifest.v1+json"
    with pytest.raises(RegistryError) as schema1:
        check_manifest(b"{}", "application/vnd.docker.distribution.manifest.v1+prettyjws")
    assert schema1.value.code == "MANIFEST_INVALID"
    with pytest.raises(RegistryError):
        check_manifest(b"[]", "application/vnd.oci.image.manifest.v1+json")
    assert accepts([], "application/vnd.oci.image.manifest.v1+json")
    assert accepts(["application/vnd.oci.image.index.v1+json, */*;q=0.1"], "x/y")
    assert not accepts(["application/vnd.oci.image.index.v1+json"], "x/y")


def test_push_and_pull_through_the_app(app: Any) -> None:
    status, headers, _ = _call(app, "GET", "/v2/")
    assert status == 200 and headers["docker-distribution-api-version"] == "registry/2.0"
    layer = b"layer bytes" * 100
    digest = "sha256:" + hashlib.sha256(layer).hexdigest()
    status, headers, _ = _call(app, "POST", f"/v2/team/app/blobs/uploads/?digest={digest}", layer)
    assert status == 201 and headers["location"] == f"/v2/team/app/blobs/{digest}"
    status, headers, body = _call(
        app, "GET", f"/v2/team/app/blobs/{digest}", headers={"Range": "bytes=0-10"}
    )
    assert (status, body) == (206, layer[:11])
    status, _, body = _call(app, "GET", "/v2/team/app/blobs/sha256:" + "0" * 64)
    assert status == 404 and json.loads(body)["errors"][0]["code"] == "BLOB_UNKNOWN"
    status, _, body = _call(app, "GET", "/v2/Bad/tags/list")
    assert status == 400 and json.loads(body)["errors"][0]["code"] == "NAME_INVALID"
