"""Blobs and manifests made for the registry tests, pushed with plain HTTP requests
exactly as the distribution-spec describes (a helper module, not a test file)."""

from __future__ import annotations

import hashlib
import json
import os
import uuid
from typing import Any

from registry_servers import Response, Server

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER = "application/vnd.oci.image.layer.v1.tar"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
ACCEPT_ALL = ", ".join(
    [
        OCI_MANIFEST,
        OCI_INDEX,
        DOCKER_MANIFEST,
        "application/vnd.docker.distribution.manifest.list.v2+json",
    ]
)


def digest_of(data: bytes, algorithm: str = "sha256") -> str:
    return f"{algorithm}:{hashlib.new(algorithm, data).hexdigest()}"


def repo(prefix: str = "conf") -> str:
    return f"{prefix}/r{uuid.uuid4().hex[:10]}"


def absolute(location: str) -> str:
    """The path (with query) of a Location header, absolute or relative."""
    if location.startswith("http"):
        rest = location.split("://", 1)[1]
        return rest[rest.index("/") :]
    return location


def with_query(location: str, query: str) -> str:
    path = absolute(location)
    return f"{path}{'&' if '?' in path else '?'}{query}"


def start_upload(server: Server, name: str) -> Response:
    answer = server.request("POST", f"/v2/{name}/blobs/uploads/", b"")
    assert answer.status == 202, answer.body
    return answer


def push_blob(server: Server, name: str, data: bytes) -> str:
    """POST then PUT, the way every registry takes."""
    location = start_upload(server, name).header("Location")
    assert location
    digest = digest_of(data)
    answer = server.request(
        "PUT",
        with_query(location, f"digest={digest}"),
        data,
        {"Content-Type": "application/octet-stream"},
    )
    assert answer.status == 201, answer.body
    return digest


def image_manifest(
    config: bytes, layers: list[bytes], **extra: Any
) -> tuple[bytes, dict[str, Any]]:
    document: dict[str, Any] = {
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": {"mediaType": OCI_CONFIG, "digest": digest_of(config), "size": len(config)},
        "layers": [
            {"mediaType": OCI_LAYER, "digest": digest_of(layer), "size": len(layer)}
            for layer in layers
        ],
    }
    document.update(extra)
    return json.dumps(document).encode(), document


def push_image(
    server: Server, name: str, tag: str | None = "v1", **extra: Any
) -> tuple[str, bytes, list[bytes]]:
    """A config, one random layer and a manifest pushed under `tag` (or by digest).
    Returns (manifest digest, manifest bytes, [config, layer])."""
    config = json.dumps({"architecture": "amd64", "os": "linux", "n": uuid.uuid4().hex}).encode()
    layer = os.urandom(2048)
    for blob in (config, layer):
        push_blob(server, name, blob)
    manifest, _ = image_manifest(config, [layer], **extra)
    digest = digest_of(manifest)
    reference = tag or digest
    answer = server.request(
        "PUT", f"/v2/{name}/manifests/{reference}", manifest, {"Content-Type": OCI_MANIFEST}
    )
    assert answer.status == 201, answer.body
    return digest, manifest, [config, layer]
