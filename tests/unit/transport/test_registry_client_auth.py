"""The token dance and basic auth (with a fake token service), the TLS and credential
decisions per registry, and uploads that verify what they send."""

from __future__ import annotations

import base64
import io
import json
from collections.abc import Mapping
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest

from capsa.oci.descriptor import Descriptor
from capsa.oci.digest import Digest
from capsa.transport.errors import DigestMismatch, SizeMismatch
from capsa.transport.registry import authfile, regconf
from capsa.transport.registry.auth import Authenticator, TokenResponse
from capsa.transport.registry.authfile import Credentials
from capsa.transport.registry.client import _VerifiedPieces
from capsa.transport.registry.connect import RegistryOptions, session_for
from capsa.transport.registry.errors import AuthenticationFailed, RegistryProtocolError
from capsa.transport.registry.paths import RegistryPaths

CHALLENGE = 'Bearer realm="https://auth.example/token",service="reg.example"'


class FakeTokenService:
    def __init__(self, users: Mapping[str, str] | None = None) -> None:
        self.users = dict(users or {})
        self.calls: list[tuple[str, str, dict[str, list[str]], str]] = []

    def __call__(
        self, method: str, url: str, headers: Mapping[str, str], body: bytes | None
    ) -> TokenResponse:
        parts = urlsplit(url)
        query = parse_qs(body.decode() if body else parts.query)
        who = ""
        header = headers.get("Authorization", "")
        if header.startswith("Basic "):
            user, _, password = base64.b64decode(header[6:]).decode().partition(":")
            if self.users.get(user) != password:
                return TokenResponse(401, b'{"details":"wrong"}')
            who = user
        self.calls.append((method, parts.path, query, who))
        token = f"token-{len(self.calls)}-{','.join(sorted(query.get('scope', [])))}"
        return TokenResponse(200, json.dumps({"token": token, "expires_in": 300}).encode())


def test_bearer_token_per_scope_cached() -> None:
    service = FakeTokenService({"me": "pw"})
    auth = Authenticator("reg.example", Credentials("me", "pw"), service)
    assert auth.header(("repository:a:pull",)) == {}  # no challenge yet: an open registry
    assert auth.set_challenge(CHALLENGE)
    first = auth.header(("repository:a:pull",))
    assert first == {"Authorization": "Bearer token-1-repository:a:pull"}
    assert auth.header(("repository:a:pull",)) == first  # cached
    assert auth.header(("repository:b:pull,push",))["Authorization"].startswith("Bearer token-2")
    method, path, query, who = service.calls[0]
    assert (method, path, who) == ("GET", "/token", "me")
    assert query["service"] == ["reg.example"] and query["account"] == ["me"]


def test_insufficient_scope_asks_again_once() -> None:
    service = FakeTokenService()
    auth = Authenticator("reg.example", None, service)
    auth.set_challenge(CHALLENGE)
    sent = auth.header(("repository:a:pull",))
    wider = CHALLENGE + ',scope="repository:a:pull repository:b:pull",error="insufficient_scope"'
    assert auth.retry_after_401(wider, ("repository:a:pull",), sent)
    again = auth.header(("repository:a:pull",))
    assert "repository:b:pull" in again["Authorization"]
    # the same token refused again: asking once more cannot help
    assert not auth.retry_after_401(wider, ("repository:a:pull",), again)


def test_wrong_password_and_anonymous_refusal() -> None:
    auth = Authenticator("reg.example", Credentials("me", "bad"), FakeTokenService({"me": "pw"}))
    auth.set_challenge(CHALLENGE)
    with pytest.raises(AuthenticationFailed, match="wrong username or password"):
        auth.header(("repository:a:pull",))

    def refuse(*_: object) -> TokenResponse:
        return TokenResponse(401, b"")

    anonymous = Authenticator("reg.example", None, refuse)
    anonymous.set_challenge(CHALLENGE)
    with pytest.raises(AuthenticationFailed, match=r"capsa login reg\.example"):
        anonymous.header(())


def test_identity_token_uses_oauth_refresh_grant() -> None:
    service = FakeTokenService()
    auth = Authenticator("reg.example", Credentials("", "", "refresh-me"), service)
    auth.set_challenge(CHALLENGE)
    auth.header(("repository:a:pull",))
    method, _, form, _ = service.calls[0]
    assert method == "POST"
    assert form["grant_type"] == ["refresh_token"] and form["refresh_token"] == ["refresh-me"]


def test_basic_auth_and_bad_token_answers() -> None:
    auth = Authenticator("r", Credentials("u", "p"), FakeTokenService())
    assert auth.set_challenge('Basic realm="registry"')
    assert auth.header(()) == {"Authorization": "Basic " + base64.b64encode(b"u:p").decode()}
    assert not auth.set_challenge("Digest realm=x")
    for body in (b"not json", b'{"nothing": 1}'):
        broken = Authenticator("r", None, lambda *_, b=body: TokenResponse(200, b))
        broken.set_challenge(CHALLENGE)
        with pytest.raises(RegistryProtocolError):
            broken.header(())


def _options(tmp_path: Path, conf: str = "", verify: bool | None = None) -> RegistryOptions:
    paths = RegistryPaths.from_environ(
        {"HOME": str(tmp_path), "CAPSA_CONFIG_DIR": str(tmp_path / "capsa")}
    )
    return RegistryOptions(paths, tls_verify=verify, conf=regconf.parse_text(conf))


def test_tls_decisions(tmp_path: Path) -> None:
    conf = '[[registry]]\nlocation = "insecure.example:5000"\ninsecure = true\n'
    options = _options(tmp_path, conf)
    strict = session_for("registry.example", options)
    assert (strict.verify, strict.allow_http) == (True, False)
    relaxed = session_for("insecure.example:5000", options)
    assert (relaxed.verify, relaxed.allow_http) == (False, True)
    loopback = session_for("127.0.0.1:5000", options)  # as Docker treats 127.0.0.0/8
    assert (loopback.verify, loopback.allow_http) == (False, True)
    forced = session_for("127.0.0.1:5000", _options(tmp_path, conf, verify=True))
    assert (forced.verify, forced.allow_http) == (True, False)
    off = session_for("registry.example", _options(tmp_path, conf, verify=False))
    assert (off.verify, off.allow_http) == (False, True)
    assert session_for("docker.io", options).api == "registry-1.docker.io"


def test_credentials_come_from_the_auth_files(tmp_path: Path) -> None:
    options = _options(tmp_path)
    authfile.store(options.paths.auth_write, "reg.example", Credentials("me", "pw"))
    assert session_for("reg.example", options).auth.credentials == Credentials("me", "pw")
    assert session_for("other.example", options).auth.credentials is None


def _descriptor(data: bytes) -> Descriptor:
    return Descriptor("application/octet-stream", Digest.of(data), len(data))


def test_upload_pieces_verify_before_the_last_piece() -> None:
    data = b"x" * (3 << 20) + b"tail"
    pieces = list(_VerifiedPieces(io.BytesIO(data), _descriptor(data)).iterate())
    assert b"".join(pieces) == data
    chunks = list(_VerifiedPieces(io.BytesIO(data), _descriptor(data)).chunks(1 << 21))
    assert [len(c) for c in chunks] == [1 << 21, len(data) - (1 << 21)]
    wrong = _descriptor(data)
    sent: list[bytes] = []
    with pytest.raises(DigestMismatch):
        for piece in _VerifiedPieces(io.BytesIO(data[:-1] + b"X"), wrong).iterate():
            sent.append(piece)
    assert sum(map(len, sent)) < len(data)  # the registry never got the whole wrong blob
    with pytest.raises(SizeMismatch):
        list(_VerifiedPieces(io.BytesIO(data + b"more"), wrong).iterate())
    with pytest.raises(SizeMismatch):
        list(_VerifiedPieces(io.BytesIO(data[:10]), wrong).iterate())
    empty = _descriptor(b"")
    assert list(_VerifiedPieces(io.BytesIO(b""), empty).chunks(10)) == []
