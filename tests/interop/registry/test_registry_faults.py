"""Faults of `capsa registry serve`: an upload abandoned midway, a blob with a wrong
digest, a client gone mid-upload, the server killed during a push. Afterwards nothing
partial is visible or kept, and the server starts again fine."""

from __future__ import annotations

import os
import signal
import socket
import time
from pathlib import Path

from registry_content import absolute, digest_of, push_image, repo, start_upload, with_query
from registry_servers import Server, running, start_capsa


def _ingests(server: Server) -> list[str]:
    return sorted(p.name for p in (server.storage / "ingest").iterdir())


def _blob_files(server: Server) -> set[str]:
    blobs = server.storage / "blobs"
    return (
        {f"{a.name}:{f.name}" for a in blobs.iterdir() for f in a.iterdir()}
        if blobs.exists()
        else set()
    )


def _wait_for(condition: object, timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():  # type: ignore[operator]
            return True
        time.sleep(0.1)
    return False


def _start_streaming_put(server: Server, path: str, total: int, sent: int) -> socket.socket:
    """A PUT that announces `total` bytes and sends only `sent` of them."""
    sock = socket.create_connection(("127.0.0.1", server.port))
    head = (
        f"PUT {path} HTTP/1.1\r\nHost: {server.host}\r\nContent-Type: application/octet-stream\r\n"
        f"Content-Length: {total}\r\n\r\n"
    )
    sock.sendall(head.encode())
    sock.sendall(os.urandom(sent))
    return sock


def test_abandoned_upload_leaves_nothing_after_expiry(tmp_path: Path) -> None:
    with running(start_capsa(tmp_path, "--upload-timeout", "1")) as server:
        name = repo()
        location = start_upload(server, name).header("Location") or ""
        answer = server.request(
            "PATCH", absolute(location), os.urandom(50_000), {"Content-Range": "0-49999"}
        )
        assert answer.status == 202
        assert _ingests(server)  # the data is there while the upload lives
        assert _wait_for(lambda: not _ingests(server)), _ingests(server)
        gone = server.request("GET", absolute(location))
        assert (gone.status, gone.codes) == (404, ["BLOB_UPLOAD_UNKNOWN"])
        assert _blob_files(server) == set()


def test_client_gone_midway_then_expired(tmp_path: Path) -> None:
    with running(start_capsa(tmp_path, "--upload-timeout", "1")) as server:
        name = repo()
        location = start_upload(server, name).header("Location") or ""
        digest = digest_of(b"never completed")
        sock = _start_streaming_put(
            server, with_query(location, f"digest={digest}"), 10_000_000, 1_000_000
        )
        time.sleep(0.3)
        sock.close()
        assert _wait_for(lambda: not _ingests(server))
        assert _blob_files(server) == set()
        assert server.request("HEAD", f"/v2/{name}/blobs/{digest}").status == 404


def test_wrong_digest_keeps_nothing_on_disk(tmp_path: Path) -> None:
    with running(start_capsa(tmp_path)) as server:
        name = repo()
        location = start_upload(server, name).header("Location") or ""
        data = os.urandom(100_000)
        answer = server.request("PATCH", absolute(location), data)
        location = answer.header("Location") or location
        wrong = digest_of(b"something else")
        answer = server.request("PUT", with_query(location, f"digest={wrong}"), b"")
        assert (answer.status, answer.codes) == (400, ["DIGEST_INVALID"])
        assert _ingests(server) == []
        assert _blob_files(server) == set()
        assert server.request("GET", absolute(location)).status == 404


def test_server_killed_during_a_push(tmp_path: Path) -> None:
    server = start_capsa(tmp_path, "--upload-timeout", "3")
    with running(server):
        name = repo()
        kept, _, _ = push_image(server, name, "v1")
        before = _blob_files(server)
        location = start_upload(server, name).header("Location") or ""
        digest = digest_of(b"x")
        sock = _start_streaming_put(
            server, with_query(location, f"digest={digest}"), 50_000_000, 8_000_000
        )
        time.sleep(0.3)
        server.stop(signal.SIGKILL)
        sock.close()
        assert _blob_files(server) == before  # no partial blob where blobs are served
        server.restart()
        assert server.request("HEAD", f"/v2/{name}/blobs/{digest}").status == 404
        got = server.request("GET", f"/v2/{name}/manifests/v1", headers={"Accept": "*/*"})
        assert got.header("Docker-Content-Digest") == kept
        push_image(server, repo(), "v2")  # and it takes pushes again
        # the killed upload's data goes when its timeout passes
        assert _wait_for(lambda: not _ingests(server), timeout=15)


def test_upload_resumes_after_a_restart(tmp_path: Path) -> None:
    server = start_capsa(tmp_path)
    with running(server):
        name = repo()
        data = os.urandom(300_000)
        location = start_upload(server, name).header("Location") or ""
        answer = server.request(
            "PATCH", absolute(location), data[:120_000], {"Content-Range": "0-119999"}
        )
        location = answer.header("Location") or location
        server.stop(signal.SIGKILL)
        server.restart()
        status = server.request("GET", absolute(location))
        assert (status.status, status.header("Range")) == (204, "0-119999")
        answer = server.request(
            "PATCH",
            absolute(location),
            data[120_000:],
            {"Content-Range": f"120000-{len(data) - 1}"},
        )
        assert answer.status == 202
        answer = server.request("PUT", with_query(location, f"digest={digest_of(data)}"), b"")
        assert answer.status == 201
        assert server.request("GET", f"/v2/{name}/blobs/{digest_of(data)}").body == data
