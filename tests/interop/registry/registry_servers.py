"""Registry servers started for a test on 127.0.0.1 with a free port and a temporary
storage directory: `capsa registry serve` and Debian's docker-registry (with a config
YAML written here), plus a tiny HTTP client of the standard library.

A helper module of the registry interop tests (not a test file)."""

from __future__ import annotations

import base64
import contextlib
import http.client
import json
import os
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

CAPSA = "capsa"
DOCKER = "docker-registry"
DOCKER_REGISTRY = shutil.which("docker-registry")
KINDS = [CAPSA, DOCKER]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass
class Response:
    status: int
    headers: http.client.HTTPMessage
    body: bytes

    def header(self, name: str) -> str | None:
        return self.headers.get(name)

    def json(self) -> Any:
        return json.loads(self.body)

    @property
    def codes(self) -> list[str]:
        try:
            return [entry["code"] for entry in self.json()["errors"]]
        except (ValueError, KeyError, TypeError):
            return []


@dataclass
class Server:
    kind: str
    port: int
    storage: Path
    process: subprocess.Popen[bytes]
    tls: bool = False
    ca: Path | None = None
    auth: tuple[str, str] | None = None  # default credentials for basic auth
    log: Path | None = None
    command: list[str] = field(default_factory=list)

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def url(self) -> str:
        return f"{'https' if self.tls else 'http'}://{self.host}"

    def connection(self) -> http.client.HTTPConnection:
        if self.tls:
            context = ssl.create_default_context(cafile=str(self.ca) if self.ca else None)
            return http.client.HTTPSConnection("127.0.0.1", self.port, context=context, timeout=30)
        return http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)

    def request(
        self,
        method: str,
        path: str,
        body: bytes | None = None,
        headers: dict[str, str] | None = None,
        *,
        auth: tuple[str, str] | bool | None = True,
    ) -> Response:
        """One request on a new connection. `auth=True` sends the server's default
        credentials (if any) as basic auth, a pair sends those, False/None none."""
        sent = dict(headers or {})
        credentials = self.auth if auth is True else (auth or None)
        if credentials and "Authorization" not in sent:
            token = base64.b64encode(f"{credentials[0]}:{credentials[1]}".encode()).decode()
            sent["Authorization"] = f"Basic {token}"
        if body is not None and "Content-Length" not in sent:
            sent["Content-Length"] = str(len(body))
        connection = self.connection()
        try:
            connection.request(method, path, body=body, headers=sent)
            answer = connection.getresponse()
            try:
                data = answer.read()
            except http.client.IncompleteRead as short:
                # docker-registry sends its 416 with the blob's Content-Length
                data = short.partial
            return Response(answer.status, answer.headers, data)
        finally:
            connection.close()

    def stop(self, sig: int = signal.SIGTERM) -> None:
        if self.process.poll() is None:
            self.process.send_signal(sig)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def restart(self) -> None:
        """Start the same server again on the same port and storage (after stop)."""
        assert self.process.poll() is not None
        self.process = _spawn(self.command, self.log)
        _wait_ready(self)

    def logs(self) -> str:
        return self.log.read_text(errors="replace") if self.log and self.log.exists() else ""


def _spawn(command: list[str], log: Path | None) -> subprocess.Popen[bytes]:
    out = open(log, "ab") if log else subprocess.DEVNULL  # noqa: SIM115
    try:
        return subprocess.Popen(command, stdout=out, stderr=out, stdin=subprocess.DEVNULL)
    finally:
        if log:
            out.close()  # type: ignore[union-attr]


def _wait_ready(server: Server, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise RuntimeError(f"{server.kind} exited at start: {server.logs()}")
        try:
            server.request("GET", "/v2/", auth=False)
            return
        except OSError:
            time.sleep(0.05)
    server.stop()
    raise RuntimeError(f"{server.kind} did not answer on {server.url}: {server.logs()}")


def capsa_command() -> list[str]:
    executable = Path(sys.executable).parent / "capsa"
    if executable.exists():
        return [str(executable)]
    return [sys.executable, "-c", "import sys; from capsa.cli.main import main; sys.exit(main())"]


def start_capsa(tmp: Path, *flags: str, tls: tuple[Path, Path] | None = None) -> Server:
    port = free_port()
    storage = tmp / "storage"
    command = [
        *capsa_command(),
        "registry",
        "serve",
        "--addr",
        f"127.0.0.1:{port}",
        "--storage",
        str(storage),
        *flags,
    ]
    if tls:
        command += ["--tls-cert", str(tls[0]), "--tls-key", str(tls[1])]
    log = tmp / "capsa-registry.log"
    server = Server(CAPSA, port, storage, _spawn(command, log), tls=bool(tls), log=log)
    server.command = command
    server.ca = tls[0] if tls else None
    _wait_ready(server)
    return server


def start_docker_registry(
    tmp: Path,
    *,
    read_only: bool = False,
    htpasswd: Path | None = None,
    tls: tuple[Path, Path] | None = None,
) -> Server:
    assert DOCKER_REGISTRY is not None
    port = free_port()
    storage = tmp / "storage"
    storage.mkdir(parents=True, exist_ok=True)
    lines = [
        "version: 0.1",
        "log:",
        "  level: error",
        "  accesslog:",
        "    disabled: true",
        "storage:",
        "  filesystem:",
        f"    rootdirectory: {storage}",
        "  delete:",
        "    enabled: true",
    ]
    if read_only:
        lines += ["  maintenance:", "    readonly:", "      enabled: true"]
    lines += ["http:", f"  addr: 127.0.0.1:{port}"]
    if tls:
        lines += ["  tls:", f"    certificate: {tls[0]}", f"    key: {tls[1]}"]
    if htpasswd:
        lines += ["auth:", "  htpasswd:", "    realm: test-realm", f"    path: {htpasswd}"]
    config = tmp / "docker-registry.yml"
    config.write_text("\n".join(lines) + "\n")
    command = [DOCKER_REGISTRY, "serve", str(config)]
    log = tmp / "docker-registry.log"
    server = Server(DOCKER, port, storage, _spawn(command, log), tls=bool(tls), log=log)
    server.command = command
    server.ca = tls[0] if tls else None
    _wait_ready(server)
    return server


@contextlib.contextmanager
def running(server: Server) -> Iterator[Server]:
    try:
        yield server
    finally:
        server.stop()


def make_htpasswd(path: Path, users: dict[str, str]) -> Path:
    """An htpasswd file written by Apache's htpasswd -B when it is there, else by the
    bcrypt library in the same format."""
    tool = shutil.which("htpasswd")
    lines = []
    for user, password in users.items():
        if tool:
            out = subprocess.run(
                [tool, "-nbB", user, password], capture_output=True, text=True, check=True
            ).stdout.strip()
            lines.append(out)
        else:
            import bcrypt

            hashed = bcrypt.hashpw(password.encode(), bcrypt.gensalt(5)).decode()
            lines.append(f"{user}:$2y${hashed[4:]}")
    path.write_text("\n".join(lines) + "\n")
    return path


def make_certificate(directory: Path) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 and localhost (openssl)."""
    cert, key = directory / "cert.pem", directory / "key.pem"
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "2",
            "-subj",
            "/CN=127.0.0.1",
            "-addext",
            "subjectAltName=IP:127.0.0.1,DNS:localhost",
            "-keyout",
            str(key),
            "-out",
            str(cert),
        ],
        capture_output=True,
        check=True,
    )
    os.chmod(key, 0o600)
    return cert, key


def only_capsa(server: Server, reason: str) -> None:
    """Skip on docker-registry where it departs from the spec (the reason says how).
    REGISTRY_CONFORMANCE_ALL=1 runs these on docker-registry too, to see it depart."""
    if server.kind != CAPSA and not os.environ.get("REGISTRY_CONFORMANCE_ALL"):
        pytest.skip(f"docker-registry 2.8 departs from the spec here: {reason}")
