"""The little of ASGI the registry needs: a request (headers, query, a streamed body)
and responses sent as bytes, as a file (granian's `http.response.pathsend`, which the
server sends from Rust with no Python copy) or as pieces of a file."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator, Awaitable, Callable, MutableMapping
from typing import Any
from urllib.parse import parse_qs

from capsa.registry.errors import RegistryError

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

API_VERSION = (b"docker-distribution-api-version", b"registry/2.0")
JSON = "application/json; charset=utf-8"
PIECE = 1 << 20
DRAIN_LIMIT = 64 << 20  # a refused body up to this size is read to the end first


class ClientGone(Exception):
    """The client closed the connection before its request body was complete."""


class Request:
    __slots__ = ("_query", "headers", "method", "path", "receive", "scope")

    def __init__(self, scope: Scope, receive: Receive) -> None:
        self.scope = scope
        self.receive = receive
        self.method: str = scope["method"]
        self.path: str = scope["path"]
        self.headers: dict[str, str] = {}
        for key, value in scope["headers"]:
            name = key.decode("latin-1").lower()
            text = value.decode("latin-1")
            # Repeated headers (Accept) are joined as RFC 9110 allows.
            self.headers[name] = f"{self.headers[name]}, {text}" if name in self.headers else text
        self._query: dict[str, list[str]] | None = None

    @property
    def query(self) -> dict[str, list[str]]:
        if self._query is None:
            raw = self.scope.get("query_string", b"").decode("latin-1")
            self._query = parse_qs(raw, keep_blank_values=True)
        return self._query

    def param(self, name: str) -> str | None:
        values = self.query.get(name)
        return values[0] if values else None

    @property
    def origin(self) -> str:
        scheme = self.scope.get("scheme", "http")
        host = self.headers.get("host")
        if not host:
            server = self.scope.get("server") or ("127.0.0.1", 80)
            host = f"{server[0]}:{server[1]}"
        return f"{scheme}://{host}"

    def content_length(self) -> int | None:
        text = self.headers.get("content-length")
        if text is None:
            return None
        try:
            value = int(text)
        except ValueError:
            raise RegistryError("SIZE_INVALID", f"bad Content-Length {text!r}") from None
        if value < 0:
            raise RegistryError("SIZE_INVALID", f"bad Content-Length {text!r}")
        return value

    async def chunks(self) -> AsyncIterator[bytes]:
        """The body as it arrives; ClientGone if the client leaves midway."""
        while True:
            message = await self.receive()
            if message["type"] == "http.disconnect":
                raise ClientGone
            body = message.get("body", b"")
            if body:
                yield body
            if not message.get("more_body", False):
                return

    async def body(self, limit: int, too_large: RegistryError) -> bytes:
        """The whole body, at most `limit` bytes; `too_large` beyond. A body somewhat
        over the limit is read and dropped first, so the client, still sending, gets
        the answer rather than a broken pipe."""
        length = self.content_length()
        if length is not None and length > DRAIN_LIMIT:
            raise too_large
        parts: list[bytes] = []
        size = 0
        async for chunk in self.chunks():
            size += len(chunk)
            if size > DRAIN_LIMIT:
                raise too_large
            if size <= limit:
                parts.append(chunk)
        if size > limit:
            raise too_large
        return b"".join(parts)


def _headers(headers: list[tuple[str, str]]) -> list[tuple[bytes, bytes]]:
    encoded = [API_VERSION]
    encoded += [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in headers]
    return encoded


async def respond(
    send: Send,
    status: int,
    headers: list[tuple[str, str]],
    body: bytes = b"",
    *,
    head: bool = False,
    length: int | None = None,
) -> None:
    """Send a whole response. For a HEAD, `length` is the Content-Length of the GET."""
    size = len(body) if length is None else length
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [*_headers(headers), (b"content-length", str(size).encode())],
        }
    )
    await send({"type": "http.response.body", "body": b"" if head else body})


async def respond_file(
    send: Send,
    scope: Scope,
    status: int,
    headers: list[tuple[str, str]],
    path: str,
    start: int,
    length: int,
) -> None:
    """Send `length` bytes of the file at `path` from `start`: the whole file in one
    pathsend when the server can, else in 1 MiB pieces read off the event loop."""
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [*_headers(headers), (b"content-length", str(length).encode())],
        }
    )
    whole = start == 0 and length == os.stat(path).st_size
    if whole and "http.response.pathsend" in scope.get("extensions", {}):
        await send({"type": "http.response.pathsend", "path": path})
        return
    loop = asyncio.get_running_loop()
    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    try:
        position, end = start, start + length
        while position < end:
            size = min(PIECE, end - position)
            piece = await loop.run_in_executor(None, os.pread, fd, size, position)
            if not piece:
                break  # the file shrank: the client gets a short body and retries
            position += len(piece)
            if position < end:
                await send({"type": "http.response.body", "body": piece, "more_body": True})
            else:
                await send({"type": "http.response.body", "body": piece})
                return
        await send({"type": "http.response.body", "body": b""})
    finally:
        os.close(fd)
