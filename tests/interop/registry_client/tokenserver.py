"""A token service as Docker Hub's auth server works (distribution's token spec), for
docker-registry's `auth: token:`: it checks basic credentials and issues RS256 JWTs for
the scopes asked, signed (with openssl) by a key whose certificate docker-registry trusts
(`rootcertbundle`) and carries in the `x5c` header. Anonymous requests get a token with no
access. Loopback only."""

from __future__ import annotations

import base64
import json
import secrets
import subprocess
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

from docker_registry import OPENSSL

ISSUER = "capsa-test-issuer"
SERVICE = "capsa-test-registry"


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


class TokenServer:
    def __init__(self, directory: Path, users: dict[str, str]) -> None:
        assert OPENSSL is not None
        self.users = users
        self.key = directory / "token.key"
        self.cert = directory / "token.crt"
        subprocess.run(
            [
                OPENSSL,
                "req",
                "-x509",
                "-newkey",
                "rsa:2048",
                "-nodes",
                "-keyout",
                str(self.key),
                "-out",
                str(self.cert),
                "-subj",
                "/CN=capsa token issuer",
                "-days",
                "2",
            ],
            check=True,
            capture_output=True,
            timeout=60,
        )
        der = subprocess.run(
            [OPENSSL, "x509", "-in", str(self.cert), "-outform", "DER"],
            check=True,
            capture_output=True,
            timeout=60,
        ).stdout
        self._x5c = base64.b64encode(der).decode()
        self.requests: list[tuple[str, list[str]]] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def do_GET(self) -> None:
                query = parse_qs(urlsplit(self.path).query)
                account = server.check(self.headers.get("Authorization", ""))
                if account is None:
                    self.send_response(401)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                scopes = query.get("scope", [])
                server.requests.append((account, scopes))
                body = json.dumps(
                    {"token": server.token(account, scopes), "expires_in": 300}
                ).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = int(self.server.server_address[1])
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    @property
    def realm(self) -> str:
        return f"http://127.0.0.1:{self.port}/token"

    def registry_config(self) -> dict[str, str]:
        return {
            "realm": self.realm,
            "service": SERVICE,
            "issuer": ISSUER,
            "rootcertbundle": str(self.cert),
        }

    def check(self, header: str) -> str | None:
        """The account of valid basic credentials, "" for none, None for wrong ones."""
        if not header:
            return ""
        if not header.startswith("Basic "):
            return None
        user, _, password = base64.b64decode(header[6:]).decode().partition(":")
        return user if self.users.get(user) == password else None

    def token(self, account: str, scopes: list[str]) -> str:
        access = []
        if account:  # anonymous users get nothing
            for scope in " ".join(scopes).split():
                kind, _, rest = scope.partition(":")
                name, _, actions = rest.rpartition(":")
                access.append({"type": kind, "name": name, "actions": actions.split(",")})
        now = int(time.time())
        header = {"typ": "JWT", "alg": "RS256", "x5c": [self._x5c]}
        claims = {
            "iss": ISSUER,
            "sub": account,
            "aud": SERVICE,
            "exp": now + 300,
            "nbf": now - 10,
            "iat": now,
            "jti": secrets.token_hex(8),
            "access": access,
        }
        signing = f"{_b64(json.dumps(header).encode())}.{_b64(json.dumps(claims).encode())}"
        assert OPENSSL is not None
        signature = subprocess.run(
            [OPENSSL, "dgst", "-sha256", "-sign", str(self.key)],
            input=signing.encode(),
            check=True,
            capture_output=True,
            timeout=60,
        ).stdout
        return f"{signing}.{_b64(signature)}"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
