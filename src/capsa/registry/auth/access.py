"""Deciding a request: who is asking (basic auth or a bearer token), whether they may
do it, and the challenge to answer when they have not said who they are.

Every htpasswd user may pull, push and delete, as with docker-registry's htpasswd auth;
`namespace_per_user` narrows pushes and deletes to the user's own namespace (`alice`,
`alice/...`), as Docker Hub does. A request from someone known but not allowed gets
403 DENIED; one from someone unknown gets 401 UNAUTHORIZED with a challenge. A token
that is good but lacks a scope its user could have gets 401 `insufficient_scope`, so
the client fetches a new token, as distribution's token auth answers.
"""

from __future__ import annotations

import base64
import binascii
import datetime
from dataclasses import dataclass
from typing import Any

from capsa.registry.auth.htpasswd import Htpasswd
from capsa.registry.auth.tokens import Access, TokenIssuer, parse_scope
from capsa.registry.errors import RegistryError

READ = "pull"
ACTIONS = ("pull", "push", "delete")


@dataclass(frozen=True)
class Policy:
    read_only: bool = False
    namespace_per_user: bool = False

    def allows(self, user: str, access: Access) -> bool:
        if access.type == "registry":
            return access.name == "catalog"
        if access.type != "repository":
            return False
        if access.action == READ:
            return True
        if self.read_only or access.action not in ACTIONS:
            return False
        if self.namespace_per_user:
            return access.name == user or access.name.startswith(user + "/")
        return True


def basic_credentials(header: str | None) -> tuple[str, str] | None:
    if not header or header[:6].lower() != "basic ":
        return None
    try:
        decoded = base64.b64decode(header[6:].strip(), validate=True).decode()
    except (binascii.Error, UnicodeDecodeError):
        return None
    user, sep, password = decoded.partition(":")
    return (user, password) if sep else None


def _scope_text(wanted: list[Access]) -> str:
    grouped: dict[tuple[str, str], list[str]] = {}
    for item in wanted:
        grouped.setdefault((item.type, item.name), []).append(item.action)
    return " ".join(f"{kind}:{name}:{','.join(acts)}" for (kind, name), acts in grouped.items())


class Authorizer:
    """mode None: everyone may do everything; "basic" or "token": htpasswd users."""

    def __init__(
        self,
        mode: str | None,
        *,
        htpasswd: Htpasswd | None,
        issuer: TokenIssuer,
        policy: Policy,
        realm: str | None = None,
    ) -> None:
        self.mode = mode
        self.htpasswd = htpasswd
        self.issuer = issuer
        self.policy = policy
        self.realm = realm

    @property
    def service(self) -> str:
        return self.issuer.service

    def _challenge(self, wanted: list[Access], origin: str, error: str | None) -> str:
        if self.mode == "basic":
            return f'Basic realm="{self.realm or self.service}"'
        realm = self.realm or f"{origin}/token"
        value = f'Bearer realm="{realm}",service="{self.service}"'
        if wanted:
            value += f',scope="{_scope_text(wanted)}"'
        if error:
            value += f',error="{error}"'
        return value

    def _unauthorized(
        self, wanted: list[Access], origin: str, error: str | None = None
    ) -> RegistryError:
        detail = [{"Type": a.type, "Name": a.name, "Action": a.action} for a in wanted]
        return RegistryError(
            "UNAUTHORIZED",
            detail=detail or None,
            headers=[("WWW-Authenticate", self._challenge(wanted, origin, error))],
        )

    def _denied(self, user: str, refused: list[Access]) -> RegistryError:
        detail = [{"Type": a.type, "Name": a.name, "Action": a.action} for a in refused]
        return RegistryError(
            "DENIED",
            f"requested access to the resource is denied for user {user!r}",
            detail=detail,
        )

    def authorize(self, authorization: str | None, wanted: list[Access], origin: str) -> str:
        """The user making the request ("" when there is no auth), or raise."""
        if self.mode is None:
            return ""
        if self.mode == "basic":
            credentials = basic_credentials(authorization)
            if credentials is None or not self._verify(*credentials):
                raise self._unauthorized(wanted, origin)
            user = credentials[0]
            refused = [a for a in wanted if not self.policy.allows(user, a)]
            if refused:
                raise self._denied(user, refused)
            return user
        if not authorization or authorization[:7].lower() != "bearer ":
            raise self._unauthorized(wanted, origin)
        grant = self.issuer.check(authorization[7:].strip())
        if grant is None:
            raise self._unauthorized(wanted, origin, "invalid_token")
        missing = [a for a in wanted if not grant.allows(a)]
        if missing:
            if any(not self.policy.allows(grant.subject, a) for a in missing):
                raise self._denied(grant.subject, missing)
            raise self._unauthorized(wanted, origin, "insufficient_scope")
        return grant.subject

    def _verify(self, user: str, password: str) -> bool:
        return self.htpasswd is not None and self.htpasswd.verify(user, password)

    def token(
        self, authorization: str | None, params: dict[str, list[str]], form: dict[str, list[str]]
    ) -> dict[str, Any]:
        """Answer the token endpoint (GET with basic auth, or POST with an OAuth2
        password grant): a token for the scopes asked that the user may have."""
        if self.mode != "token":
            raise RegistryError("UNSUPPORTED", "this registry does not issue tokens", status=404)
        credentials = basic_credentials(authorization)
        if credentials is None and form:
            if form.get("grant_type", [""])[0] != "password":
                raise RegistryError(
                    "UNSUPPORTED",
                    "only the password grant is supported",
                    detail={"grant_type": form.get("grant_type", [""])[0]},
                    status=400,
                )
            credentials = (form.get("username", [""])[0], form.get("password", [""])[0])
        if credentials is None or not self._verify(*credentials):
            raise RegistryError(
                "UNAUTHORIZED",
                "a user and password of this registry are needed for a token",
                headers=[("WWW-Authenticate", f'Basic realm="{self.service}"')],
            )
        user = credentials[0]
        service = (params.get("service") or form.get("service") or [self.service])[0]
        if service != self.service:
            raise RegistryError(
                "DENIED",
                f"tokens of this server are for service {self.service!r}, not {service!r}",
                detail={"service": service},
            )
        scopes = params.get("scope", []) + form.get("scope", [])
        granted: list[Access] = []
        for text in (item for scope in scopes for item in scope.split(" ") if item):
            parsed = parse_scope(text)
            if parsed is None:
                continue
            kind, name, actions = parsed
            for action in actions:
                expanded = ACTIONS if action == "*" and kind == "repository" else (action,)
                for one in expanded:
                    access = Access(kind, name, one)
                    if self.policy.allows(user, access):
                        granted.append(access)
        token, lifetime, issued = self.issuer.issue(user, granted)
        issued_at = datetime.datetime.fromtimestamp(issued, datetime.UTC)
        return {
            "token": token,
            "access_token": token,
            "expires_in": lifetime,
            "issued_at": issued_at.isoformat().replace("+00:00", "Z"),
        }
