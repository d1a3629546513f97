"""Conformance of the refusals: UNAUTHORIZED (basic and token auth), DENIED, read-only
mode (UNSUPPORTED), TOOMANYREQUESTS. Basic auth and read-only run against both
servers; token auth, DENIED and the upload limit are capsa's own (docker-registry's
token auth needs an outside token server, and it has no per-user rules or limits)."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from registry_content import OCI_MANIFEST, push_blob, push_image, repo
from registry_servers import (
    CAPSA,
    DOCKER,
    DOCKER_REGISTRY,
    KINDS,
    Server,
    make_htpasswd,
    running,
    start_capsa,
    start_docker_registry,
)

USERS = {"alice": "wonderland", "bob": "builder"}


@pytest.fixture
def htpasswd(tmp_path: Path) -> Path:
    return make_htpasswd(tmp_path / "htpasswd", USERS)


def _start(kind: str, tmp: Path, **options: object) -> Server:
    if kind == DOCKER and DOCKER_REGISTRY is None:
        pytest.skip("docker-registry is not installed")
    if kind == DOCKER:
        return start_docker_registry(tmp, **options)  # type: ignore[arg-type]
    flags: list[str] = []
    if options.get("read_only"):
        flags.append("--read-only")
    if options.get("htpasswd"):
        flags += [
            "--htpasswd",
            str(options["htpasswd"]),
            "--auth",
            "basic",
            "--realm",
            "test-realm",
        ]
    return start_capsa(tmp, *flags)


@pytest.fixture(params=KINDS)
def basic_registry(
    request: pytest.FixtureRequest, tmp_path: Path, htpasswd: Path
) -> Iterator[Server]:
    with running(_start(request.param, tmp_path, htpasswd=htpasswd)) as server:
        yield server


def test_basic_auth_challenge(basic_registry: Server) -> None:
    answer = basic_registry.request("GET", "/v2/", auth=False)
    assert answer.status == 401
    assert answer.codes == ["UNAUTHORIZED"]
    assert answer.header("WWW-Authenticate") == 'Basic realm="test-realm"'
    wrong = basic_registry.request("GET", "/v2/", auth=("alice", "not her password"))
    assert wrong.status == 401
    assert basic_registry.request("GET", "/v2/", auth=("nobody", "x")).status == 401


def test_basic_auth_push_and_pull(basic_registry: Server) -> None:
    basic_registry.auth = ("alice", USERS["alice"])
    assert basic_registry.request("GET", "/v2/").status == 200
    name = repo()
    _, manifest, _ = push_image(basic_registry, name, "v1")
    got = basic_registry.request(
        "GET", f"/v2/{name}/manifests/v1", headers={"Accept": OCI_MANIFEST}
    )
    assert got.body == manifest
    anonymous = basic_registry.request("GET", f"/v2/{name}/manifests/v1", auth=False)
    assert (anonymous.status, anonymous.codes) == (401, ["UNAUTHORIZED"])


@pytest.mark.parametrize("kind", KINDS)
def test_read_only_refuses_pushes_and_deletes(kind: str, tmp_path: Path) -> None:
    name = repo()
    with running(_start(kind, tmp_path)) as server:
        digest, _, _ = push_image(server, name, "v1")
    with running(_start(kind, tmp_path, read_only=True)) as server:
        for method, path in [
            ("POST", f"/v2/{name}/blobs/uploads/"),
            ("PUT", f"/v2/{name}/manifests/v2"),
            ("DELETE", f"/v2/{name}/manifests/{digest}"),
            ("DELETE", f"/v2/{name}/blobs/{digest}"),
        ]:
            answer = server.request(method, path, b"" if method != "DELETE" else None)
            assert answer.status == 405, (method, path)
            assert answer.header("Allow") == "GET, HEAD"
            if kind == CAPSA:  # docker-registry answers in plain text
                assert answer.codes == ["UNSUPPORTED"]
        got = server.request("GET", f"/v2/{name}/manifests/v1", headers={"Accept": OCI_MANIFEST})
        assert got.status == 200


# -- capsa's own: token auth, DENIED, TOOMANYREQUESTS --------------------------------------


@pytest.fixture
def token_registry(tmp_path: Path, htpasswd: Path) -> Iterator[Server]:
    flags = ["--htpasswd", str(htpasswd), "--auth", "token", "--service", "test-service"]
    with running(start_capsa(tmp_path, *flags, "--namespace-per-user")) as server:
        yield server


def _token(server: Server, user: str, *scopes: str) -> str:
    query = "&".join(["service=test-service", *(f"scope={s}" for s in scopes)])
    answer = server.request("GET", f"/token?{query}", auth=(user, USERS[user]))
    assert answer.status == 200, answer.body
    document = answer.json()
    assert document["expires_in"] > 0
    assert document["token"] == document["access_token"]
    token: str = document["token"]
    return token


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_token_auth_challenge_and_dance(token_registry: Server) -> None:
    server = token_registry
    name = "alice/app"
    answer = server.request("POST", f"/v2/{name}/blobs/uploads/", b"", auth=False)
    assert (answer.status, answer.codes) == (401, ["UNAUTHORIZED"])
    challenge = answer.header("WWW-Authenticate") or ""
    assert challenge == (
        f'Bearer realm="{server.url}/token",service="test-service",'
        f'scope="repository:{name}:pull,push"'
    )
    token = _token(server, "alice", f"repository:{name}:pull,push")
    claims = json.loads(base64.urlsafe_b64decode(token.split(".")[1] + "=="))
    assert claims["access"] == [{"type": "repository", "name": name, "actions": ["pull", "push"]}]
    answer = server.request("POST", f"/v2/{name}/blobs/uploads/", b"", _bearer(token))
    assert answer.status == 202
    base = server.request("GET", "/v2/", headers=_bearer(token))
    assert base.status == 200


def test_token_without_the_scope_is_insufficient_scope(token_registry: Server) -> None:
    server = token_registry
    token = _token(server, "alice", "repository:alice/app:pull")
    answer = server.request("POST", "/v2/alice/app/blobs/uploads/", b"", _bearer(token))
    assert (answer.status, answer.codes) == (401, ["UNAUTHORIZED"])
    assert 'error="insufficient_scope"' in (answer.header("WWW-Authenticate") or "")


def test_forged_token_is_refused(token_registry: Server) -> None:
    server = token_registry
    header, payload, _ = _token(server, "alice", "repository:alice/app:pull").split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=="))
    claims["access"][0]["name"] = "bob/app"
    forged_payload = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    forged = f"{header}.{forged_payload}.{'A' * 43}"
    answer = server.request("GET", "/v2/bob/app/tags/list", headers=_bearer(forged))
    assert answer.status == 401
    assert 'error="invalid_token"' in (answer.header("WWW-Authenticate") or "")


def test_token_endpoint_needs_a_user(token_registry: Server) -> None:
    server = token_registry
    answer = server.request("GET", "/token?service=test-service", auth=False)
    assert (answer.status, answer.codes) == (401, ["UNAUTHORIZED"])
    wrong = server.request("GET", "/token?service=test-service", auth=("alice", "bad"))
    assert wrong.status == 401
    form = (
        b"grant_type=password&username=bob&password=builder&service=test-service"
        b"&scope=repository:bob/x:pull"
    )
    posted = server.request(
        "POST", "/token", form, {"Content-Type": "application/x-www-form-urlencoded"}, auth=False
    )
    assert posted.status == 200
    assert posted.json()["access_token"]


def test_push_outside_ones_namespace_is_denied(token_registry: Server) -> None:
    server = token_registry
    token = _token(server, "alice", "repository:bob/app:pull,push")
    claims = json.loads(base64.urlsafe_b64decode(token.split(".")[1] + "=="))
    assert claims["access"] == [{"type": "repository", "name": "bob/app", "actions": ["pull"]}]
    answer = server.request("POST", "/v2/bob/app/blobs/uploads/", b"", _bearer(token))
    assert (answer.status, answer.codes) == (403, ["DENIED"])


def test_basic_auth_denied_outside_namespace(tmp_path: Path, htpasswd: Path) -> None:
    flags = ["--htpasswd", str(htpasswd), "--namespace-per-user"]
    with running(start_capsa(tmp_path, *flags)) as server:
        server.auth = ("bob", USERS["bob"])
        push_blob(server, "bob/tools", b"mine")
        answer = server.request("POST", "/v2/alice/tools/blobs/uploads/", b"")
        assert (answer.status, answer.codes) == (403, ["DENIED"])
        assert server.request("GET", "/v2/alice/tools/tags/list").status == 404  # pull is fine


def test_too_many_uploads(tmp_path: Path) -> None:
    with running(start_capsa(tmp_path, "--max-uploads", "2")) as server:
        name = repo()
        first = server.request("POST", f"/v2/{name}/blobs/uploads/", b"")
        server.request("POST", f"/v2/{name}/blobs/uploads/", b"")
        answer = server.request("POST", f"/v2/{name}/blobs/uploads/", b"")
        assert (answer.status, answer.codes) == (429, ["TOOMANYREQUESTS"])
        assert answer.header("Retry-After")
        # A finished or cancelled upload makes room again.
        server.request("DELETE", first.header("Location") or "")
        assert server.request("POST", f"/v2/{name}/blobs/uploads/", b"").status == 202
