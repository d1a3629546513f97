"""htpasswd files of bcrypt hashes, as Apache's `htpasswd -B` writes them (the only kind
docker-registry reads too).

bcrypt is slow on purpose (tens of milliseconds at cost 10), and basic auth sends the
password with every request, so a verified pair is remembered (as a SHA-256 of the
pair, never the password) until the file changes.
"""

from __future__ import annotations

import hashlib
import os
import threading
from pathlib import Path

import bcrypt

from capsa.errors import InvalidArgument, NotFound

_BCRYPT_PREFIXES = ("$2y$", "$2a$", "$2b$")


def load(path: Path) -> dict[str, bytes]:
    """user -> bcrypt hash. Refuses a file with lines it cannot use rather than letting
    a user silently fail to log in."""
    try:
        text = path.read_text()
    except FileNotFoundError:
        raise NotFound(
            f"htpasswd file {path} does not exist", hint="make one with htpasswd -Bc"
        ) from None
    users: dict[str, bytes] = {}
    for number, line in enumerate(text.splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        user, sep, hashed = line.partition(":")
        if not sep or not user or not hashed.startswith(_BCRYPT_PREFIXES):
            raise InvalidArgument(
                f"{path}:{number}: not a user:bcrypt-hash line",
                hint="only bcrypt hashes are supported: htpasswd -B",
            )
        # bcrypt (the library) reads $2b$; $2y$ (PHP, Apache) is the same algorithm.
        users[user] = ("$2b$" + hashed[4:]).encode()
    return users


class Htpasswd:
    """The users of one htpasswd file, reloaded when it changes."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._stamp: tuple[int, int, int] | None = None
        self._users: dict[str, bytes] = {}
        self._verified: set[bytes] = set()
        self._reload()

    def _reload(self) -> None:
        st = os.stat(self.path)
        stamp = (st.st_ino, st.st_mtime_ns, st.st_size)
        if stamp == self._stamp:
            return
        users = load(self.path)
        with self._lock:
            self._users = users
            self._verified = set()
            self._stamp = stamp

    def verify(self, user: str, password: str) -> bool:
        try:
            self._reload()
        except (OSError, InvalidArgument, NotFound):
            return False  # a file being rewritten or broken: refuse until it is good
        key = hashlib.sha256(f"{user}\0{password}".encode()).digest()
        with self._lock:
            if key in self._verified:
                return True
            hashed = self._users.get(user)
        if hashed is None:
            return False
        try:
            ok = bcrypt.checkpw(password.encode(), hashed)
        except ValueError:
            return False
        if ok:
            with self._lock:
                self._verified.add(key)
        return ok
