"""Authenticating to a registry: HTTP basic, or the bearer-token dance Docker Hub and most
registries use (distribution's token spec):

    GET /v2/ -> 401  WWW-Authenticate: Bearer realm="https://auth…/token",service="reg"
    GET <realm>?service=reg&scope=repository:library/busybox:pull   (basic auth if any)
        -> {"token": "…", "expires_in": 300}
    GET /v2/library/busybox/manifests/latest  Authorization: Bearer …

Tokens are kept per scope until shortly before they expire; a 401 with a new scope (an
`insufficient_scope` error, or a push that also mounts from another repository) fetches
another one. Thread-safe: parallel layer downloads share one Authenticator.
"""

from __future__ import annotations

import base64
import json
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING
from urllib.parse import urlencode

from capsa.transport.registry.errors import AuthenticationFailed, RegistryProtocolError
from capsa.transport.registry.headers import Challenge, parse_challenges

if TYPE_CHECKING:
    from capsa.transport.registry.authfile import Credentials

DEFAULT_TOKEN_LIFETIME = 60.0  # seconds, when the token service does not say (its spec)
EARLY = 10.0  # renew a token this long before it expires
CLIENT_ID = "capsa"

Scope = tuple[str, ...]


def repository_scope(repository: str, *actions: str) -> str:
    return f"repository:{repository}:{','.join(actions)}"


@dataclass(frozen=True)
class TokenResponse:
    status: int
    body: bytes


# (method, url, headers, form body) -> response; the session provides it, tests fake it
TokenFetcher = Callable[[str, str, Mapping[str, str], bytes | None], TokenResponse]


class Authenticator:
    def __init__(self, host: str, credentials: Credentials | None, fetch: TokenFetcher) -> None:
        self.host = host
        self.credentials = credentials
        self._fetch = fetch
        self._lock = threading.Lock()
        self._challenge: Challenge | None = None
        self._tokens: dict[frozenset[str], tuple[str, float]] = {}
        self._extra_scopes: set[str] = set()

    @property
    def scheme(self) -> str:
        """ "bearer", "basic" or "" (no challenge seen: the registry is open)."""
        return self._challenge.scheme if self._challenge is not None else ""

    def set_challenge(self, header: str | None) -> bool:
        """Take the challenge of a 401 (bearer preferred over basic). False if none of
        its schemes is one capsa speaks."""
        challenges = parse_challenges(header or "")
        chosen = next((c for c in challenges if c.scheme == "bearer"), None) or next(
            (c for c in challenges if c.scheme == "basic"), None
        )
        if chosen is None:
            return False
        with self._lock:
            self._challenge = chosen
            scope = chosen.params.get("scope")
            if chosen.scheme == "bearer" and scope:
                self._extra_scopes.update(scope.split(" "))
        return True

    def header(self, scope: Scope) -> dict[str, str]:
        """The Authorization header for a request needing `scope`; {} when none is due."""
        challenge = self._challenge
        if challenge is None:
            return {}
        if challenge.scheme == "basic":
            if self.credentials is None or not self.credentials.username:
                return {}
            return {"Authorization": _basic(self.credentials.username, self.credentials.password)}
        return {"Authorization": f"Bearer {self.token(scope)}"}

    def retry_after_401(self, header: str | None, scope: Scope, sent: Mapping[str, str]) -> bool:
        """After a 401: whether sending the request again, with a new header, can help."""
        before = (self.scheme, dict(sent).get("Authorization", ""))
        if not self.set_challenge(header):
            return False
        if self.scheme == "basic":
            return bool(self.credentials and self.credentials.username) and before[1] == ""
        with self._lock:
            key = frozenset((*scope, *self._extra_scopes))
            cached = self._tokens.get(key)
            if cached is not None and before[1] == f"Bearer {cached[0]}":
                return False  # that very token was refused: not a matter of scope
            self._tokens.pop(key, None)
        return True

    def token(self, scope: Scope) -> str:
        with self._lock:
            key = frozenset((*scope, *self._extra_scopes))
            cached = self._tokens.get(key)
            if cached is not None and cached[1] - EARLY > time.monotonic():
                return cached[0]
            challenge = self._challenge
        assert challenge is not None
        token, lifetime = self._request_token(challenge, sorted(key))
        with self._lock:
            self._tokens[key] = (token, time.monotonic() + lifetime)
        return token

    def _request_token(self, challenge: Challenge, scopes: list[str]) -> tuple[str, float]:
        realm = challenge.realm
        if not realm.startswith(("https://", "http://")):
            raise RegistryProtocolError(
                f"registry {self.host} asks for a bearer token without a usable realm ({realm!r})"
            )
        service = challenge.params.get("service", "")
        credentials = self.credentials
        if credentials is not None and credentials.identity_token:
            form = {
                "grant_type": "refresh_token",
                "refresh_token": credentials.identity_token,
                "client_id": CLIENT_ID,
                "service": service,
                "scope": " ".join(scopes),
            }
            response = self._fetch(
                "POST",
                realm,
                {"Content-Type": "application/x-www-form-urlencoded"},
                urlencode(form).encode(),
            )
        else:
            query: list[tuple[str, str]] = []
            if service:
                query.append(("service", service))
            query.extend(("scope", s) for s in scopes)
            if credentials is not None and credentials.username:
                query.append(("account", credentials.username))
            headers: dict[str, str] = {}
            if credentials is not None and credentials.username:
                headers["Authorization"] = _basic(credentials.username, credentials.password)
            separator = "&" if "?" in realm else "?"
            url = f"{realm}{separator}{urlencode(query)}" if query else realm
            response = self._fetch("GET", url, headers, None)
        return self._parse_token(response, realm)

    def _parse_token(self, response: TokenResponse, realm: str) -> tuple[str, float]:
        if response.status in (401, 403):
            if self.credentials is None:
                raise AuthenticationFailed(
                    f"registry {self.host} requires authentication: its token service "
                    f"{realm} refused an anonymous token",
                    hint=f"log in with capsa login {self.host}",
                )
            raise AuthenticationFailed(
                f"cannot log in to {self.host} as {self.credentials.username!r}: the token "
                f"service {realm} refused the credentials (wrong username or password)",
                hint=f"check them and run capsa login {self.host} again",
            )
        if response.status != 200:
            raise RegistryProtocolError(
                f"the token service {realm} of {self.host} answered HTTP {response.status}"
            )
        try:
            document = json.loads(response.body)
        except ValueError:
            raise RegistryProtocolError(
                f"the token service {realm} of {self.host} answered something that is not JSON"
            ) from None
        token = ""
        if isinstance(document, dict):
            token = document.get("token") or document.get("access_token") or ""
        if not isinstance(token, str) or not token:
            raise RegistryProtocolError(f"the token service {realm} of {self.host} sent no token")
        lifetime = document.get("expires_in", DEFAULT_TOKEN_LIFETIME)
        if not isinstance(lifetime, (int, float)) or lifetime <= 0:
            lifetime = DEFAULT_TOKEN_LIFETIME
        return token, max(float(lifetime), EARLY + 1.0)


def _basic(username: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{username}:{password}".encode()).decode()
