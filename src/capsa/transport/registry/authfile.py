"""Registry credentials in the files Docker and Podman users already have:

    {"auths": {"localhost:5000": {"auth": "<base64 of user:password>"},
               "https://index.docker.io/v1/": {"auth": "...", "identitytoken": "..."}}}

Keys are matched however they are spelled (`https://host/v1/`, `host`, Docker Hub's
several names), and Podman's per-repository keys (`quay.io/org`) win over the registry's
own. Writes keep every other field of the file (Docker keeps its settings there too) and
are atomic (a temporary file, fsync, rename) with mode 0600.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import json
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from capsa.errors import InvalidArgument, PermissionDenied
from capsa.transport.registry.names import DOCKER_HUB, DOCKER_HUB_AUTH_KEY, canonical_host

MAX_FILE = 4 << 20  # a credentials file is small; refuse to read a huge one


@dataclass(frozen=True)
class Credentials:
    username: str
    password: str
    identity_token: str = ""  # an OAuth2 refresh token, used instead of the password

    def __repr__(self) -> str:  # never show the secret
        return f"Credentials(username={self.username!r})"


def _key_name(key: str) -> str:
    """`https://index.docker.io/v1/` -> `docker.io`; `quay.io/org/` -> `quay.io/org`."""
    text = key.strip()
    for scheme in ("https://", "http://"):
        if text.lower().startswith(scheme):
            text = text[len(scheme) :]
    host, _, path = text.partition("/")
    path = path.strip("/")
    if path in ("v1", "v2"):
        path = ""
    host = canonical_host(host)
    return f"{host}/{path}" if path else host


def read_file(path: Path) -> dict[str, Any]:
    """The file's JSON object; {} when it does not exist."""
    try:
        with open(path, "rb") as file:
            data = file.read(MAX_FILE + 1)
    except (FileNotFoundError, NotADirectoryError):
        return {}
    except PermissionError:
        raise PermissionDenied(f"cannot read credentials file {path}: permission denied") from None
    if len(data) > MAX_FILE:
        raise InvalidArgument(f"credentials file {path} is larger than {MAX_FILE} bytes")
    if not data.strip():
        return {}
    try:
        document = json.loads(data)
    except ValueError as exc:
        raise InvalidArgument(
            f"credentials file {path} is not valid JSON: {exc}",
            hint="fix or remove it, then run capsa login again",
        ) from None
    if not isinstance(document, dict):
        raise InvalidArgument(f"credentials file {path} is not a JSON object")
    return document


def _auths(document: dict[str, Any], path: Path) -> dict[str, Any]:
    auths = document.get("auths", {})
    if not isinstance(auths, dict):
        raise InvalidArgument(f'credentials file {path}: "auths" is not an object')
    return auths


def _decode(entry: object, key: str, path: Path) -> Credentials | None:
    if not isinstance(entry, dict):
        return None
    token = entry.get("identitytoken", "")
    encoded = entry.get("auth", "")
    if not isinstance(encoded, str) or not isinstance(token, str):
        raise InvalidArgument(f"credentials file {path}: the entry of {key} is malformed")
    if not encoded:
        username, password = entry.get("username", ""), entry.get("password", "")
        if isinstance(username, str) and isinstance(password, str) and (username or token):
            return Credentials(username, password, token)
        return Credentials("", "", token) if token else None
    try:
        text = base64.b64decode(encoded, validate=True).decode()
    except (binascii.Error, UnicodeDecodeError):
        raise InvalidArgument(
            f"credentials file {path}: the auth of {key} is not base64 of user:password",
            hint=f"run capsa logout {key} and log in again",
        ) from None
    username, sep, password = text.partition(":")
    if not sep:
        raise InvalidArgument(
            f"credentials file {path}: the auth of {key} has no ':' between user and password"
        )
    return Credentials(username, password, token)


def lookup(files: tuple[Path, ...], host: str, repository: str = "") -> Credentials | None:
    """The credentials for `repository` on registry `host`: the first file that has an
    entry wins; in it, the longest matching key (`host/org/repo`, `host/org`, `host`)."""
    host = canonical_host(host)
    wanted = [host]
    parts = [p for p in repository.split("/") if p]
    for end in range(1, len(parts) + 1):
        wanted.append("/".join([host, *parts[:end]]))
    wanted.reverse()
    for path in files:
        auths = _auths(read_file(path), path)
        by_name: dict[str, tuple[str, object]] = {}
        for key, entry in auths.items():
            by_name.setdefault(_key_name(key), (key, entry))
        for name in wanted:
            if name in by_name:
                key, entry = by_name[name]
                found = _decode(entry, key, path)
                if found is not None:
                    return found
    return None


def _write_key(path: Path, host: str) -> str:
    """Docker keeps Docker Hub under its old index URL; Podman (auth.json) as docker.io."""
    if host == DOCKER_HUB and path.name == "config.json":
        return DOCKER_HUB_AUTH_KEY
    return host


def store(path: Path, host: str, credentials: Credentials) -> None:
    """Record `credentials` for registry `host` (or `host/namespace`) in `path`."""
    name = _key_name(host)
    document = read_file(path)
    auths = dict(_auths(document, path))
    for key in [k for k in auths if _key_name(k) == name]:
        del auths[key]
    entry: dict[str, str] = {}
    if credentials.username or credentials.password:
        raw = f"{credentials.username}:{credentials.password}".encode()
        entry["auth"] = base64.b64encode(raw).decode()
    if credentials.identity_token:
        entry["identitytoken"] = credentials.identity_token
    auths[_write_key(path, name)] = entry
    document["auths"] = auths
    _write(path, document)


def remove(path: Path, host: str) -> bool:
    """Forget `host` in `path`; False when it was not there."""
    name = _key_name(host)
    document = read_file(path)
    if not document:
        return False
    auths = dict(_auths(document, path))
    doomed = [k for k in auths if _key_name(k) == name]
    if not doomed:
        return False
    for key in doomed:
        del auths[key]
    document["auths"] = auths
    _write(path, document)
    return True


def remove_all(path: Path) -> bool:
    document = read_file(path)
    if not _auths(document, path):
        return False
    document["auths"] = {}
    _write(path, document)
    return True


def _write(path: Path, document: dict[str, Any]) -> None:
    data = (json.dumps(document, indent="\t") + "\n").encode()
    try:
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".auth-", dir=path.parent)
    except PermissionError:
        raise PermissionDenied(f"cannot write credentials file {path}: permission denied") from None
    try:
        os.fchmod(fd, 0o600)
        with os.fdopen(fd, "wb") as file:
            file.write(data)
            file.flush()
            os.fsync(file.fileno())
        os.rename(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    with contextlib.suppress(OSError):
        dir_fd = os.open(path.parent, os.O_RDONLY | os.O_DIRECTORY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
