"""The attach protocol between the monitor and its clients, on a Unix stream socket.

Every message is a frame with Docker's stdcopy header: one byte for the stream, three
zero bytes, the payload length (big-endian u32), the payload. Streams: 0 stdin (client to
monitor), 1 stdout, 2 stderr, 3 control (JSON, both ways):

    client -> monitor   {"attach": {"stdin": true, "stdout": true, "stderr": true}}
                        {"resize": [rows, cols]}   {"close_stdin": true}
    monitor -> client   {"started": PID}   {"exit": CODE}   {"error": "message"}

Unix socket paths are limited to 107 bytes; ours are reached through an O_PATH descriptor
of their directory (/proc/self/fd/N/NAME), so a deep state root still works.
"""

from __future__ import annotations

import json
import os
import socket
import struct
from collections.abc import Iterator
from typing import Any

STDIN, STDOUT, STDERR, CONTROL = 0, 1, 2, 3
HEADER = struct.Struct(">BxxxI")
MAX_FRAME = 1 << 20


def frame(stream: int, payload: bytes) -> bytes:
    return HEADER.pack(stream, len(payload)) + payload


def control(message: dict[str, Any]) -> bytes:
    return frame(CONTROL, json.dumps(message).encode())


class FrameReader:
    """Frames out of a byte stream that arrives in pieces."""

    def __init__(self) -> None:
        self.buffer = bytearray()

    def feed(self, data: bytes) -> Iterator[tuple[int, bytes]]:
        self.buffer += data
        while len(self.buffer) >= HEADER.size:
            stream, size = HEADER.unpack_from(self.buffer)
            if size > MAX_FRAME or stream > CONTROL:
                raise ValueError("not an attach frame")
            end = HEADER.size + size
            if len(self.buffer) < end:
                return
            payload = bytes(self.buffer[HEADER.size : end])
            del self.buffer[:end]
            yield stream, payload


def decode_control(payload: bytes) -> dict[str, Any]:
    try:
        message = json.loads(payload)
    except ValueError:
        return {}
    return message if isinstance(message, dict) else {}


def _via_directory(path: str) -> tuple[int, str]:
    directory, name = os.path.split(path)
    fd = os.open(directory, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
    return fd, f"/proc/self/fd/{fd}/{name}"


def listen(path: str, backlog: int = 16) -> socket.socket:
    """A listening Unix socket at `path` (an old one there is replaced)."""
    fd, short = _via_directory(path)
    try:
        try:
            os.unlink(short)
        except FileNotFoundError:
            pass
        server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM | socket.SOCK_CLOEXEC)
        server.bind(short)
        os.chmod(short, 0o600)
        server.listen(backlog)
        return server
    finally:
        os.close(fd)


def connect(path: str, timeout: float | None = None) -> socket.socket:
    fd, short = _via_directory(path)
    try:
        client = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM | socket.SOCK_CLOEXEC)
        client.settimeout(timeout)
        try:
            client.connect(short)
        except BaseException:
            client.close()
            raise
        client.settimeout(None)
        return client
    finally:
        os.close(fd)


def send_all(sock: socket.socket, data: bytes) -> None:
    sock.sendall(data)
