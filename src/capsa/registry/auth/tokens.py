"""Bearer tokens the registry issues and checks itself: JWTs signed with HMAC-SHA256
under a key made when the server starts, valid for a few minutes, carrying the access
they grant in Docker's token format (`access: [{type, name, actions}]`)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import time
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Access:
    """One scope: `repository:<name>:<action>` or `registry:catalog:*`."""

    type: str
    name: str
    action: str


@dataclass(frozen=True)
class Grant:
    subject: str
    access: frozenset[Access]
    expires: float

    def allows(self, wanted: Access) -> bool:
        return wanted in self.access or Access(wanted.type, wanted.name, "*") in self.access


def parse_scope(scope: str) -> tuple[str, str, list[str]] | None:
    """`repository:a/b:pull,push` -> ("repository", "a/b", ["pull", "push"])."""
    kind, sep, rest = scope.partition(":")
    name, sep2, actions = rest.rpartition(":")
    if not sep or not sep2 or not kind or not name:
        return None
    return kind, name, [action for action in actions.split(",") if action]


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class TokenIssuer:
    def __init__(self, service: str, lifetime: int = 300, key: bytes | None = None) -> None:
        self.service = service
        self.lifetime = lifetime
        self._key = key or secrets.token_bytes(32)

    def issue(self, subject: str, access: list[Access]) -> tuple[str, int, float]:
        """A signed token; returns (token, lifetime in seconds, issued at)."""
        now = time.time()
        by_resource: dict[tuple[str, str], list[str]] = {}
        for item in access:
            by_resource.setdefault((item.type, item.name), []).append(item.action)
        claims: dict[str, Any] = {
            "iss": self.service,
            "sub": subject,
            "aud": self.service,
            "iat": int(now),
            "nbf": int(now) - 1,
            "exp": int(now) + self.lifetime,
            "jti": secrets.token_hex(12),
            "access": [
                {"type": kind, "name": name, "actions": actions}
                for (kind, name), actions in by_resource.items()
            ],
        }
        header = _b64(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
        payload = _b64(json.dumps(claims, separators=(",", ":")).encode())
        signature = _b64(self._sign(f"{header}.{payload}".encode()))
        return f"{header}.{payload}.{signature}", self.lifetime, now

    def _sign(self, data: bytes) -> bytes:
        return hmac.new(self._key, data, hashlib.sha256).digest()

    def check(self, token: str) -> Grant | None:
        """The grant a token carries, or None if it is forged, expired or not ours."""
        parts = token.split(".")
        if len(parts) != 3:
            return None
        header, payload, signature = parts
        try:
            given = _unb64(signature)
            if not hmac.compare_digest(given, self._sign(f"{header}.{payload}".encode())):
                return None
            claims = json.loads(_unb64(payload))
        except ValueError:
            return None
        now = time.time()
        try:
            if claims["aud"] != self.service or not claims["nbf"] <= now < claims["exp"]:
                return None
            access = frozenset(
                Access(str(entry["type"]), str(entry["name"]), str(action))
                for entry in claims["access"]
                for action in entry["actions"]
            )
            return Grant(str(claims["sub"]), access, float(claims["exp"]))
        except (KeyError, TypeError):
            return None
