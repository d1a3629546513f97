"""Pushing blobs: `POST /v2/<name>/blobs/uploads/` (a session, a single-request upload
with `?digest=`, or a cross-repository mount with `?mount=&from=`), then PATCH (chunks,
in order), PUT (`?digest=`, closing), GET (where the upload is) and DELETE (cancel) on
the session's URL."""

from __future__ import annotations

import asyncio
import re
import time
from typing import TYPE_CHECKING

from capsa.oci.digest import REGISTERED, Digest
from capsa.registry.errors import RegistryError
from capsa.registry.http.asgi import ClientGone, Request, Send, respond
from capsa.registry.http.routes import Route
from capsa.registry.names import parse_digest
from capsa.registry.uploads import Upload

if TYPE_CHECKING:
    from capsa.registry.http.app import Registry

BATCH = 1 << 20  # body pieces are gathered to this size before a write
# The spec's `^[0-9]+-[0-9]+$`; Docker's clients have also sent `bytes=0-10` and
# `bytes 0-10/*`, which docker-registry takes too.
_CONTENT_RANGE = re.compile(r"(?:bytes[ =])?(\d+)-(\d+)(?:/(?:\d+|\*))?")


def _session_headers(upload: Upload) -> list[tuple[str, str]]:
    return [
        ("Location", upload.location()),
        ("Range", upload.range),
        ("Docker-Upload-UUID", upload.id),
    ]


def _blob_headers(name: str, digest: Digest) -> list[tuple[str, str]]:
    return [("Location", f"/v2/{name}/blobs/{digest}"), ("Docker-Content-Digest", str(digest))]


def _chunk_length(request: Request, upload: Upload) -> int | None:
    """How long the chunk must be, from its Content-Range (None without one); 416 if
    it does not start where the upload ends."""
    text = request.headers.get("content-range")
    if text is None:
        return None
    match = _CONTENT_RANGE.fullmatch(text.strip())
    if match is None:
        raise RegistryError(
            "BLOB_UPLOAD_INVALID",
            f"bad Content-Range {text!r}: expected <start>-<end>",
            detail={"Content-Range": text},
        )
    start, end = int(match.group(1)), int(match.group(2))
    if start != upload.offset or end < start:
        raise RegistryError(
            "BLOB_UPLOAD_INVALID",
            f"chunk {start}-{end} is out of order: the upload has {upload.offset} bytes",
            detail={"Content-Range": text, "offset": upload.offset},
            status=416,
            headers=_session_headers(upload),
        )
    length = end - start + 1
    declared = request.content_length()
    if declared is not None and declared != length:
        raise RegistryError(
            "SIZE_INVALID",
            f"Content-Length {declared} does not match Content-Range {text}",
            detail={"Content-Length": declared, "Content-Range": text},
        )
    return length


async def _receive(upload: Upload, request: Request, length: int | None) -> int:
    """Append the request body to the upload; the data stays if the client leaves.

    Pieces are gathered up to 1 MiB (clients stream in pieces of a few KiB) and each
    batch is hashed and written in a thread (both release the GIL) while the event
    loop takes in the next: receiving, hashing and writing overlap."""
    loop = asyncio.get_running_loop()
    written = 0
    batch: list[bytes] = []
    batched = 0
    pending: asyncio.Future[int] | None = None

    async def flush() -> None:
        nonlocal pending, batch, batched
        data = batch[0] if len(batch) == 1 else b"".join(batch)
        batch, batched = [], 0
        if pending is not None:
            await pending
        pending = loop.run_in_executor(None, upload.write, data)

    try:
        async for chunk in request.chunks():
            if length is not None and written + len(chunk) > length:
                raise RegistryError(
                    "SIZE_INVALID",
                    f"the chunk is longer than its Content-Range ({length} bytes)",
                    detail={"length": length},
                )
            batch.append(chunk)
            batched += len(chunk)
            written += len(chunk)
            if batched >= BATCH:
                await flush()
                upload.touched = time.monotonic()
    except ClientGone:
        if batch:
            await flush()  # keep what arrived, for a client that resumes
        raise
    finally:
        if pending is not None:
            await pending  # never leave a write running behind the session's lock
    if batch:
        await flush()
        assert pending is not None
        await pending
    upload.touched = time.monotonic()
    if length is not None and written != length:
        raise RegistryError(
            "SIZE_INVALID",
            f"the chunk has {written} bytes, its Content-Range says {length}",
            detail={"length": length, "received": written},
        )
    return written


async def start(registry: Registry, request: Request, send: Send, route: Route) -> None:
    name = route.name
    mount, source = request.param("mount"), request.param("from")
    if mount is not None:
        digest = parse_digest(mount)
        if source and registry.storage.blob_size(source, digest) is not None:
            await asyncio.to_thread(registry.storage.link_blob, name, digest)
            await respond(send, 201, _blob_headers(name, digest))
            return
        # Not mountable: an ordinary session, which the spec answers with 202.
    algorithm = request.param("digest-algorithm")
    if algorithm is not None and algorithm not in REGISTERED:
        raise RegistryError(
            "DIGEST_INVALID",
            f"unsupported digest algorithm {algorithm!r}",
            detail={"supported": sorted(REGISTERED)},
        )
    given = request.param("digest")
    monolithic = parse_digest(given) if given is not None else None
    upload = await asyncio.to_thread(registry.uploads.start, name)
    async with upload.lock:
        try:
            await _receive(upload, request, None)
        except BaseException:
            registry.uploads.cancel(upload)
            raise
        if monolithic is not None:
            await asyncio.to_thread(registry.uploads.commit, upload, monolithic)
            await respond(send, 201, _blob_headers(name, monolithic))
            return
    await respond(send, 202, _session_headers(upload))


async def _session(registry: Registry, route: Route) -> Upload:
    upload = await asyncio.to_thread(registry.uploads.get, route.name, route.arg)
    upload.touched = time.monotonic()
    return upload


async def patch(registry: Registry, request: Request, send: Send, route: Route) -> None:
    upload = await _session(registry, route)
    async with upload.lock:
        await _receive(upload, request, _chunk_length(request, upload))
    await respond(send, 202, _session_headers(upload))


async def finish(registry: Registry, request: Request, send: Send, route: Route) -> None:
    given = request.param("digest")
    if given is None:
        raise RegistryError("DIGEST_INVALID", "the closing PUT needs ?digest=<digest>")
    digest = parse_digest(given)
    upload = await _session(registry, route)
    async with upload.lock:
        await _receive(upload, request, _chunk_length(request, upload))
        await asyncio.to_thread(registry.uploads.commit, upload, digest)
    await respond(send, 201, _blob_headers(route.name, digest))


async def status(registry: Registry, request: Request, send: Send, route: Route) -> None:
    upload = await _session(registry, route)
    await respond(send, 204, _session_headers(upload))


async def cancel(registry: Registry, request: Request, send: Send, route: Route) -> None:
    upload = await _session(registry, route)
    async with upload.lock:
        await asyncio.to_thread(registry.uploads.cancel, upload)
    await respond(send, 204, [])
