"""Debian's docker-registry (the reference distribution server) run for a test or a
benchmark: on 127.0.0.1 with a free port, storage in a temporary directory, optionally
with htpasswd (bcrypt) basic auth, token auth, or TLS. Only the process started here is
ever stopped. Also: a test CA and server certificates made with openssl."""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

DOCKER_REGISTRY = shutil.which("docker-registry")
HTPASSWD = shutil.which("htpasswd")
OPENSSL = shutil.which("openssl")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Registry:
    port: int
    root: Path
    process: subprocess.Popen[bytes]
    scheme: str = "http"
    log: Path = field(default_factory=Path)

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self.port}"

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)


@dataclass(frozen=True)
class TLSFiles:
    ca: Path
    cert: Path
    key: Path


def make_tls(directory: Path, name: str = "127.0.0.1") -> TLSFiles:
    """A CA and a server certificate it signed, for 127.0.0.1 and localhost."""
    assert OPENSSL is not None
    directory.mkdir(parents=True, exist_ok=True)
    ca, ca_key = directory / "ca.crt", directory / "ca.key"
    cert, key, csr = directory / "server.crt", directory / "server.key", directory / "server.csr"
    ext = directory / "san.ext"
    ext.write_text("subjectAltName=IP:127.0.0.1,DNS:localhost\n")

    def run(*args: str) -> None:
        subprocess.run([OPENSSL, *args], check=True, capture_output=True, timeout=60)

    run(
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-keyout",
        str(ca_key),
        "-out",
        str(ca),
        "-subj",
        "/CN=capsa test CA",
        "-days",
        "2",
    )
    run(
        "req",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-keyout",
        str(key),
        "-out",
        str(csr),
        "-subj",
        f"/CN={name}",
    )
    run(
        "x509",
        "-req",
        "-in",
        str(csr),
        "-CA",
        str(ca),
        "-CAkey",
        str(ca_key),
        "-CAcreateserial",
        "-out",
        str(cert),
        "-days",
        "2",
        "-extfile",
        str(ext),
    )
    return TLSFiles(ca, cert, key)


def htpasswd_file(path: Path, users: dict[str, str]) -> Path:
    assert HTPASSWD is not None
    lines = []
    for user, password in users.items():
        result = subprocess.run(
            [HTPASSWD, "-Bbn", user, password], check=True, capture_output=True, text=True
        )
        lines.append(result.stdout.strip())
    path.write_text("\n".join(lines) + "\n")
    return path


def _config(
    root: Path,
    port: int,
    *,
    htpasswd: Path | None,
    tls: TLSFiles | None,
    token: dict[str, str] | None,
) -> str:
    lines = [
        "version: 0.1",
        "log:",
        "  level: error",
        "  accesslog:",
        "    disabled: true",
        "storage:",
        "  filesystem:",
        f"    rootdirectory: {root / 'data'}",
        "  delete:",
        "    enabled: true",
        "http:",
        f"  addr: 127.0.0.1:{port}",
        f"  secret: capsa-test-{port}",
    ]
    if tls is not None:
        lines += ["  tls:", f"    certificate: {tls.cert}", f"    key: {tls.key}"]
    if htpasswd is not None:
        lines += ["auth:", "  htpasswd:", "    realm: capsa-test", f"    path: {htpasswd}"]
    elif token is not None:
        lines += ["auth:", "  token:"] + [f"    {k}: {v}" for k, v in token.items()]
    return "\n".join(lines) + "\n"


def start(
    root: Path,
    *,
    htpasswd: Path | None = None,
    tls: TLSFiles | None = None,
    token: dict[str, str] | None = None,
) -> Registry:
    assert DOCKER_REGISTRY is not None
    root.mkdir(parents=True, exist_ok=True)
    for _ in range(5):
        port = free_port()
        config = root / "config.yml"
        config.write_text(_config(root, port, htpasswd=htpasswd, tls=tls, token=token))
        log = root / "registry.log"
        with open(log, "wb") as out:
            process = subprocess.Popen(
                [DOCKER_REGISTRY, "serve", str(config)],
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env={**os.environ, "OTEL_TRACES_EXPORTER": "none"},
            )
        registry = Registry(port, root, process, "https" if tls else "http", log)
        if _wait_ready(registry):
            return registry
        registry.stop()
    raise RuntimeError(f"docker-registry did not start: {(root / 'registry.log').read_text()}")


def _wait_ready(registry: Registry, timeout: float = 15.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if registry.process.poll() is not None:
            return False
        with (
            contextlib.suppress(OSError),
            socket.create_connection(("127.0.0.1", registry.port), timeout=0.5),
        ):
            return True
        time.sleep(0.05)
    return False


@contextlib.contextmanager
def running(**kwargs: object) -> Iterator[Registry]:
    root = Path(tempfile.mkdtemp(prefix="capsa-registry-"))
    registry = start(root, **kwargs)  # type: ignore[arg-type]
    try:
        yield registry
    finally:
        registry.stop()
        shutil.rmtree(root, ignore_errors=True)


def get(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return int(response.status)
    except urllib.error.HTTPError as exc:
        return int(exc.code)
