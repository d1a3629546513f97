"""Tokens, htpasswd files and the access policy of the registry server."""

from __future__ import annotations

import base64
from pathlib import Path

import bcrypt
import pytest

from capsa.errors import InvalidArgument
from capsa.registry.auth.access import Authorizer, Policy, basic_credentials
from capsa.registry.auth.htpasswd import Htpasswd, load
from capsa.registry.auth.tokens import Access, TokenIssuer, parse_scope
from capsa.registry.errors import RegistryError

PULL = Access("repository", "team/app", "pull")
PUSH = Access("repository", "team/app", "push")


def _htpasswd(tmp_path: Path, **users: str) -> Path:
    lines = []
    for user, password in users.items():
        hashed = bcrypt.hashpw(password.encode(), bcrypt.gensalt(4)).decode()
        lines.append(f"{user}:$2y${hashed[4:]}")  # as Apache's htpasswd -B writes
    path = tmp_path / "htpasswd"
    path.write_text("\n".join(lines) + "\n")
    return path


def _basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


def test_token_round_trip() -> None:
    issuer = TokenIssuer("svc", lifetime=60)
    token, lifetime, _ = issuer.issue("alice", [PULL, PUSH])
    grant = issuer.check(token)
    assert grant is not None and grant.subject == "alice" and lifetime == 60
    assert grant.allows(PULL) and grant.allows(PUSH)
    assert not grant.allows(Access("repository", "other", "pull"))


def test_tokens_of_another_key_service_or_time_are_refused() -> None:
    issuer = TokenIssuer("svc", lifetime=60)
    token, _, _ = issuer.issue("alice", [PULL])
    assert TokenIssuer("svc").check(token) is None  # another key
    assert TokenIssuer("other", key=issuer._key).check(token) is None
    expired = TokenIssuer("svc", lifetime=-5, key=issuer._key)
    assert issuer.check(expired.issue("alice", [PULL])[0]) is None
    assert issuer.check("not.a.token") is None
    assert issuer.check(token[:-2] + "AA") is None


def test_parse_scope() -> None:
    assert parse_scope("repository:a/b:pull,push") == ("repository", "a/b", ["pull", "push"])
    assert parse_scope("registry:catalog:*") == ("registry", "catalog", ["*"])
    assert parse_scope("nonsense") is None


def test_policy() -> None:
    assert Policy().allows("u", PUSH)
    assert not Policy(read_only=True).allows("u", PUSH)
    assert Policy(read_only=True).allows("u", PULL)
    mine = Policy(namespace_per_user=True)
    assert mine.allows("team", PUSH)
    assert not mine.allows("other", PUSH)
    assert mine.allows("other", PULL)


def test_htpasswd_verifies_bcrypt_and_reloads(tmp_path: Path) -> None:
    path = _htpasswd(tmp_path, alice="one")
    users = Htpasswd(path)
    assert users.verify("alice", "one")
    assert users.verify("alice", "one")  # remembered
    assert not users.verify("alice", "two")
    assert not users.verify("bob", "one")
    _htpasswd(tmp_path, alice="two")
    assert users.verify("alice", "two")
    assert not users.verify("alice", "one")


def test_htpasswd_refuses_other_hashes(tmp_path: Path) -> None:
    path = tmp_path / "htpasswd"
    path.write_text("alice:$apr1$abc$def\n")
    with pytest.raises(InvalidArgument, match="bcrypt"):
        load(path)


def test_basic_auth_mode(tmp_path: Path) -> None:
    users = Htpasswd(_htpasswd(tmp_path, alice="pw"))
    auth = Authorizer(
        "basic", htpasswd=users, issuer=TokenIssuer("svc"), policy=Policy(), realm="R"
    )
    assert auth.authorize(_basic("alice", "pw"), [PUSH], "http://x") == "alice"
    with pytest.raises(RegistryError) as refused:
        auth.authorize(_basic("alice", "bad"), [PUSH], "http://x")
    assert refused.value.code == "UNAUTHORIZED"
    assert refused.value.headers == [("WWW-Authenticate", 'Basic realm="R"')]
    assert basic_credentials("Basic !!!") is None


def test_token_mode(tmp_path: Path) -> None:
    users = Htpasswd(_htpasswd(tmp_path, alice="pw"))
    issuer = TokenIssuer("svc")
    auth = Authorizer(
        "token", htpasswd=users, issuer=issuer, policy=Policy(namespace_per_user=True)
    )
    with pytest.raises(RegistryError) as challenge:
        auth.authorize(None, [PULL], "https://reg:5000")
    assert challenge.value.headers[0][1] == (
        'Bearer realm="https://reg:5000/token",service="svc",scope="repository:team/app:pull"'
    )
    answer = auth.token(_basic("alice", "pw"), {"scope": ["repository:alice/x:pull,push"]}, {})
    assert auth.authorize(
        f"Bearer {answer['token']}", [Access("repository", "alice/x", "push")], "o"
    )
    refused = auth.token(_basic("alice", "pw"), {"scope": ["repository:team/app:push,pull"]}, {})
    with pytest.raises(RegistryError) as denied:
        auth.authorize(f"Bearer {refused['token']}", [PULL, PUSH], "o")
    assert (denied.value.code, denied.value.status) == ("DENIED", 403)
    with pytest.raises(RegistryError) as anonymous:
        auth.token(None, {}, {})
    assert anonymous.value.code == "UNAUTHORIZED"
