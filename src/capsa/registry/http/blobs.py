"""GET, HEAD and DELETE of `/v2/<name>/blobs/<digest>`, with Range requests."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from capsa.registry.errors import RegistryError
from capsa.registry.http.asgi import Request, Send, respond, respond_file
from capsa.registry.http.routes import Route
from capsa.registry.names import parse_digest

if TYPE_CHECKING:
    from capsa.registry.http.app import Registry

_RANGE = re.compile(r"bytes=(\d*)-(\d*)")


def _range(header: str | None, size: int) -> tuple[int, int] | None:
    """(start, length) of a single `bytes=` range, None to send the whole blob (no
    Range, or one this server ignores as RFC 9110 allows: several ranges, other units).
    Raises a 416 for a range that lies outside the blob."""
    if not header:
        return None
    match = _RANGE.fullmatch(header.strip())
    if match is None:
        return None
    first, last = match.groups()
    if not first and not last:
        return None
    if not first:  # the last N bytes
        length = min(int(last), size)
        if length == 0:
            raise _unsatisfiable(size)
        return size - length, length
    start = int(first)
    end = min(int(last), size - 1) if last else size - 1
    if start >= size or end < start:
        raise _unsatisfiable(size)
    return start, end - start + 1


def _unsatisfiable(size: int) -> RegistryError:
    return RegistryError(
        "BLOB_UNKNOWN",
        "requested range not satisfiable",
        detail={"size": size},
        status=416,
        headers=[("Content-Range", f"bytes */{size}")],
    )


async def get(registry: Registry, request: Request, send: Send, route: Route) -> None:
    digest = parse_digest(route.arg)
    size = registry.storage.blob_size(route.name, digest)
    if size is None:
        raise RegistryError("BLOB_UNKNOWN", detail=str(digest))
    headers = [
        ("Content-Type", "application/octet-stream"),
        ("Docker-Content-Digest", str(digest)),
        ("Etag", f'"{digest}"'),
        ("Accept-Ranges", "bytes"),
        ("Cache-Control", "max-age=31536000"),
    ]
    wanted = _range(request.headers.get("range"), size)
    status, start, length = 200, 0, size
    if wanted is not None:
        start, length = wanted
        status = 206
        headers.append(("Content-Range", f"bytes {start}-{start + length - 1}/{size}"))
    if request.method == "HEAD":
        await respond(send, status, headers, head=True, length=length)
        return
    path = str(registry.storage.blob_path(digest))
    await respond_file(send, request.scope, status, headers, path, start, length)


async def delete(registry: Registry, request: Request, send: Send, route: Route) -> None:
    digest = parse_digest(route.arg)
    if not registry.storage.unlink_blob(route.name, digest):
        raise RegistryError("BLOB_UNKNOWN", detail=str(digest))
    await respond(send, 202, [("Docker-Content-Digest", str(digest))])
