"""Authentication and TLS against Debian's docker-registry: htpasswd (bcrypt) basic auth,
the bearer-token dance with a token service, login/logout and the credentials file, TLS
with a test-made CA (trusted through certs.d or not at all), registries.conf rewrites and
mirrors."""

from __future__ import annotations

import base64
import json
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest
from docker_registry import HTPASSWD, OPENSSL, Registry, htpasswd_file, make_tls, start
from tokenserver import TokenServer

from conftest import Capsa, needs_registry

pytestmark = needs_registry
USERS = {"alice": "wonderland-42"}


@pytest.fixture
def basic_registry(tmp_path: Path) -> Iterator[Registry]:
    if HTPASSWD is None:
        pytest.skip("htpasswd is not installed (apache2-utils)")
    path = htpasswd_file(tmp_path / "htpasswd", USERS)
    registry = start(tmp_path / "basic", htpasswd=path)
    try:
        yield registry
    finally:
        registry.stop()


def test_basic_auth_login_push_pull_logout(capsa: Capsa, basic_registry: Registry) -> None:
    host = basic_registry.host
    name = f"{host}/private/busybox:v1"
    refused = capsa.run("push", "localhost/busybox:latest", name, check=False)
    assert refused.returncode == 125
    assert "requires authentication" in refused.stderr and f"capsa login {host}" in refused.stderr
    wrong = capsa.run("login", "-u", "alice", "--password-stdin", host, input="nope\n", check=False)
    assert wrong.returncode == 125
    assert "wrong username or password" in wrong.stderr
    assert len(wrong.stderr.strip().splitlines()) == 1
    assert not capsa.auth_file.exists()
    ok = capsa.run("login", "-u", "alice", "--password-stdin", host, input="wonderland-42\n")
    assert ok.stdout == "Login Succeeded\n"
    assert stat.S_IMODE(capsa.auth_file.stat().st_mode) == 0o600
    auths = json.loads(capsa.auth_file.read_text())["auths"]
    assert base64.b64decode(auths[host]["auth"]) == b"alice:wonderland-42"
    capsa.run("push", "-q", "localhost/busybox:latest", name)
    capsa.run("pull", "-q", name, root=capsa.home / "fresh")
    out = capsa.run("logout", host)
    assert out.stdout == f"Removing login credentials for {host}\n"
    assert capsa.run("logout", host).stdout == f"Not logged in to {host}\n"
    again = capsa.run("pull", name, root=capsa.home / "other", check=False)
    assert again.returncode == 125
    # credentials from Podman's auth.json work too
    podman_auth = capsa.home / "run" / "containers" / "auth.json"
    podman_auth.parent.mkdir(parents=True)
    podman_auth.write_text(
        json.dumps({"auths": {host: {"auth": base64.b64encode(b"alice:wonderland-42").decode()}}})
    )
    capsa.run("pull", "-q", name, root=capsa.home / "podman")
    capsa.run("logout", "--all")
    assert json.loads(podman_auth.read_text())["auths"] == {}


def test_token_auth(capsa: Capsa, tmp_path: Path) -> None:
    if OPENSSL is None:
        pytest.skip("openssl is not installed")
    tokens = TokenServer(tmp_path, USERS)
    registry = start(tmp_path / "token", token=tokens.registry_config())
    try:
        host = registry.host
        name = f"{host}/team/busybox:v1"
        anonymous = capsa.run("push", "localhost/busybox:latest", name, check=False)
        assert anonymous.returncode == 125, anonymous.stderr
        capsa.run("login", "-u", "alice", "-p", "wonderland-42", host)
        capsa.run("push", "-q", "localhost/busybox:latest", name)
        capsa.run("pull", "-q", name, root=capsa.home / "fresh")
        scopes = [s for _, asked in tokens.requests for s in asked]
        assert "repository:team/busybox:pull,push" in scopes
        assert "repository:team/busybox:pull" in scopes
        wrong = capsa.run("login", "-u", "alice", "-p", "bad", host, check=False)
        assert "refused the credentials" in wrong.stderr or "wrong username" in wrong.stderr
    finally:
        registry.stop()
        tokens.close()


@pytest.fixture
def tls_registry(tmp_path: Path) -> Iterator[tuple[Registry, Path]]:
    if OPENSSL is None:
        pytest.skip("openssl is not installed")
    files = make_tls(tmp_path / "tls")
    registry = start(tmp_path / "tls-registry", tls=files)
    try:
        yield registry, files.ca
    finally:
        registry.stop()


def test_tls_with_a_test_ca(capsa: Capsa, tls_registry: tuple[Registry, Path]) -> None:
    registry, ca = tls_registry
    name = f"{registry.host}/secure/busybox:v1"
    untrusted = capsa.run(
        "push", "--tls-verify=true", "localhost/busybox:latest", name, check=False
    )
    assert untrusted.returncode == 125
    assert "TLS certificate is not trusted" in untrusted.stderr
    assert f"certs.d/{registry.host}/ca.crt" in untrusted.stderr
    # --tls-verify=false: any certificate
    capsa.run("push", "-q", "--tls-verify=false", "localhost/busybox:latest", name)
    # the CA in capsa's certs.d: verified
    certs = capsa.config_dir / "certs.d" / registry.host
    certs.mkdir(parents=True)
    (certs / "ca.crt").write_bytes(ca.read_bytes())
    capsa.run("pull", "-q", "--tls-verify=true", name, root=capsa.home / "fresh")
    # --cert-dir instead of certs.d
    flat = capsa.home / "flat"
    flat.mkdir()
    (flat / "ca.crt").write_bytes(ca.read_bytes())
    capsa.run(
        "pull", "-q", "--tls-verify", "--cert-dir", str(flat), name, root=capsa.home / "flat-store"
    )


def test_plain_http_needs_tls_verify_off(capsa: Capsa, registry: Registry) -> None:
    name = f"{registry.host}/plain/busybox:v1"
    strict = capsa.run("push", "--tls-verify=true", "localhost/busybox:latest", name, check=False)
    assert strict.returncode == 125
    assert "TLS handshake failed" in strict.stderr and "--tls-verify=false" in strict.stderr
    capsa.run("push", "-q", "--tls-verify=false", "localhost/busybox:latest", name)


def test_registries_conf_rewrite_mirror_and_search(
    capsa: Capsa, registry: Registry, tmp_path: Path
) -> None:
    capsa.run("push", "-q", "localhost/busybox:latest", f"{registry.host}/mirrored/busybox:v1")
    dead = "127.0.0.1:9"  # the discard port: nothing listens there
    (capsa.home / "registries.conf").write_text(f"""
unqualified-search-registries = ["{registry.host}"]

[[registry]]
prefix = "images.example.invalid/lib"
location = "{registry.host}/mirrored"
insecure = true

[[registry]]
location = "{dead}"
[[registry.mirror]]
location = "{registry.host}"
insecure = true

[[registry]]
location = "blocked.example.invalid"
blocked = true
""")
    capsa.run("pull", "-q", "images.example.invalid/lib/busybox:v1", root=capsa.home / "a")
    # the registry is down, its mirror has the image
    capsa.run("pull", "-q", f"{dead}/mirrored/busybox:v1", root=capsa.home / "b")
    # a short name is looked up in the unqualified-search registries
    short = capsa.run("pull", "-q", "mirrored/busybox:v1", root=capsa.home / "c")
    assert short.stdout == f"{registry.host}/mirrored/busybox:v1\n"
    blocked = capsa.run("pull", "blocked.example.invalid/x", check=False)
    assert blocked.returncode == 125 and "blocked" in blocked.stderr
