"""The command server's pieces that need no server: the request with its fds, and the
staleness check that keeps an upgraded capsa from being served by old code."""

from __future__ import annotations

import array
import json
import os
import socket
from pathlib import Path

from capsa.cli import server


def test_a_request_comes_with_its_three_fds() -> None:
    ours, theirs = socket.socketpair()
    with ours, theirs:
        read_end, write_end = os.pipe()
        request = {"argv": ["build", "."], "cwd": "/", "env": {"A": "1"}}
        fds = array.array("i", [read_end, write_end, write_end])
        theirs.sendmsg(
            [json.dumps(request).encode() + b"\n"],
            [(socket.SOL_SOCKET, socket.SCM_RIGHTS, fds.tobytes())],
        )
        got, passed = server.receive_request(ours)
        assert got == request
        assert len(passed) == 3
        os.write(passed[1], b"x")
        assert os.read(read_end, 1) == b"x"
        for fd in (*passed, read_end, write_end):
            os.close(fd)


def test_a_half_request_is_no_request() -> None:
    ours, theirs = socket.socketpair()
    with ours:
        theirs.sendall(b'{"argv": ["bu')
        theirs.close()
        assert server.receive_request(ours) == ({}, [])


def test_a_changed_module_makes_the_server_stale(tmp_path: Path) -> None:
    module = tmp_path / "mod.py"
    module.write_text("x = 1\n")
    stat = os.stat(module)
    stamps = {str(module): (stat.st_mtime_ns, stat.st_size)}
    assert not server._stale(stamps)
    module.write_text("x = 22\n")
    assert server._stale(stamps)
    module.unlink()
    assert server._stale(stamps)


def test_the_server_knows_when_its_socket_is_gone(tmp_path: Path) -> None:
    path = tmp_path / "cli.sock"
    path.write_text("")
    inode = os.stat(path).st_ino
    assert server._still_ours(str(path), inode)
    path.unlink()
    assert not server._still_ours(str(path), inode)
