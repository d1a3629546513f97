"""Images through registries and back into containers: push to `capsa registry serve`
and to Debian's docker-registry, remove, pull, run. The servers listen on 127.0.0.1 of
the test's own network namespace, where its capsa commands run."""

from __future__ import annotations

import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from e2e_harness import Capsa

from capsa.network.netns import entered

DOCKER_REGISTRY = shutil.which("docker-registry")


def _wait_listening(capsa: Capsa, port: int, server: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 20
    while True:
        try:
            with entered(capsa.netns):
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            assert server.poll() is None, "the registry exited at start"
            assert time.monotonic() < deadline, "the registry did not answer"
            time.sleep(0.05)


def _stop(server: subprocess.Popen[bytes]) -> None:
    server.terminate()
    try:
        server.wait(timeout=20)
    except subprocess.TimeoutExpired:
        server.kill()
        server.wait(timeout=20)


def _round_trip(capsa: Capsa, name: str, *, explicit_pull: bool = True) -> None:
    capsa("push", "busybox", name)
    capsa("rmi", "busybox")
    assert capsa("images", "-q").stdout == ""
    if explicit_pull:
        capsa("pull", "-q", name)
    done = capsa("run", "--rm", name, "sh", "-c", "echo pulled and running")
    assert done.stdout == "pulled and running\n"
    if not explicit_pull:  # run pulled it, as Docker's does, telling so on stderr
        assert f"Unable to find image '{name}' locally" in done.stderr


def test_push_pull_run_through_capsa_registry(capsa: Capsa, tmp_path: Path) -> None:
    port = 5000
    server = capsa.popen(
        "registry", "serve", "--addr", f"127.0.0.1:{port}", "--storage", str(tmp_path / "reg"),
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        _wait_listening(capsa, port, server)
        _round_trip(capsa, f"127.0.0.1:{port}/team/busybox:v1", explicit_pull=False)
        assert capsa("create", "--pull", "always", f"127.0.0.1:{port}/team/busybox:v1")
    finally:
        _stop(server)


@pytest.mark.skipif(DOCKER_REGISTRY is None, reason="docker-registry is not installed")
def test_push_pull_run_through_docker_registry(capsa: Capsa, tmp_path: Path) -> None:
    sys.path.insert(0, str(Path(__file__).parents[1] / "interop" / "registry_client"))
    from docker_registry import _config

    assert DOCKER_REGISTRY is not None and capsa.netns is not None
    port = 5001
    config = tmp_path / "config.yml"
    config.write_text(_config(tmp_path / "storage", port, htpasswd=None, tls=None, token=None))
    server = subprocess.Popen(
        ["nsenter", f"--net={capsa.netns}", DOCKER_REGISTRY, "serve", str(config)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        env={"OTEL_TRACES_EXPORTER": "none", "PATH": "/usr/bin:/bin"},
    )  # fmt: skip
    try:
        _wait_listening(capsa, port, server)
        _round_trip(capsa, f"127.0.0.1:{port}/reference/busybox:v1")
    finally:
        _stop(server)
