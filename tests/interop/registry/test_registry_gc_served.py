"""Garbage collection of a served storage directory: `capsa registry gc DIR` while the
server runs, and the server's own online collection (`--gc-interval`)."""

from __future__ import annotations

import hashlib
import os
import subprocess
import time
from pathlib import Path

from registry_content import push_blob, push_image, repo
from registry_servers import capsa_command, running, start_capsa


def _gc(storage: Path, *flags: str) -> str:
    result = subprocess.run(
        [*capsa_command(), "registry", "gc", str(storage), *flags],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_gc_command_removes_only_unreferenced_blobs(tmp_path: Path) -> None:
    with running(start_capsa(tmp_path)) as server:
        name = repo()
        _, manifest, blobs = push_image(server, name, "v1")
        orphan = push_blob(server, name, os.urandom(4096))
        assert "would remove 1 blobs (4096 bytes)" in _gc(
            server.storage, "--grace", "0", "--dry-run"
        )
        assert server.request("GET", f"/v2/{name}/blobs/{orphan}").status == 200
        out = _gc(server.storage, "--grace", "0")
        assert f"removed blob {orphan}" in out
        assert server.request("GET", f"/v2/{name}/blobs/{orphan}").status == 404
        for blob in blobs:
            answer = server.request("GET", f"/v2/{name}/blobs/sha256:{_sha256(blob)}")
            assert answer.body == blob
        got = server.request("GET", f"/v2/{name}/manifests/v1", headers={"Accept": "*/*"})
        assert got.body == manifest


def test_gc_keeps_young_blobs(tmp_path: Path) -> None:
    with running(start_capsa(tmp_path)) as server:
        name = repo()
        young = push_blob(server, name, b"a push that is still going on")
        assert "removed 0 blobs" in _gc(server.storage)  # default grace: an hour
        assert server.request("HEAD", f"/v2/{name}/blobs/{young}").status == 200


def test_gc_refuses_what_is_not_a_storage_directory(tmp_path: Path) -> None:
    result = subprocess.run(
        [*capsa_command(), "registry", "gc", str(tmp_path)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 125
    assert "is not a registry storage directory" in result.stderr


def test_online_gc(tmp_path: Path) -> None:
    flags = ["--gc-interval", "0.5", "--gc-grace", "1"]
    with running(start_capsa(tmp_path, *flags)) as server:
        name = repo()
        push_image(server, name, "v1")
        orphan = push_blob(server, name, b"nobody references me")
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            if server.request("HEAD", f"/v2/{name}/blobs/{orphan}").status == 404:
                break
            time.sleep(0.2)
        else:
            raise AssertionError("the online collection did not remove the orphan blob")
        assert (
            server.request("GET", f"/v2/{name}/manifests/v1", headers={"Accept": "*/*"}).status
            == 200
        )


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()
