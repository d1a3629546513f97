"""Blob upload sessions: started by a POST, fed by PATCHes, closed by a PUT.

Each session is an ingest of the content store (`ingest/`): data hashed while it is
written, renamed into `blobs/` only when the client's digest matches, deleted otherwise.
An open session keeps its writer (and the hash state) in memory between requests; a
session the server lost by restarting is reopened from disk (re-hashed) when the client
comes back to it, so a push survives a restart. A session nobody writes to for
`timeout` seconds is aborted, in memory and on disk: abandoned uploads leave nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid as uuid_module
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field

from capsa.errors import NotFound, Timeout
from capsa.oci.digest import Digest
from capsa.registry.errors import RegistryError
from capsa.registry.storage import RegistryStorage
from capsa.store.blobs import BlobInfo, IngestWriter
from capsa.store.errors import DigestMismatch

_REF_PREFIX = "registry-upload:"
# Every this many bytes an upload starts flushing to disk in the background, so that
# the fsync of the closing PUT has only the tail left (writeback overlaps the transfer).
SYNC_EVERY = 8 << 20
_SYNCS = ThreadPoolExecutor(max_workers=2, thread_name_prefix="capsa-registry-sync")


@dataclass
class Upload:
    id: str
    name: str
    writer: IngestWriter
    touched: float = field(default_factory=time.monotonic)
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    syncing: Future[None] | None = None

    def write(self, data: bytes) -> int:
        """Append (hashing as it goes); blocking, so the server calls it in a thread."""
        before = self.writer.offset
        written = self.writer.write(data)
        crossed = before // SYNC_EVERY != self.writer.offset // SYNC_EVERY
        if crossed and (self.syncing is None or self.syncing.done()):
            self.syncing = _SYNCS.submit(self.writer.sync)
        return written

    def settle(self) -> None:
        """Wait for a background flush: the writer's descriptor must outlive it."""
        if self.syncing is not None:
            with contextlib.suppress(Exception):  # commit's own fsync reports I/O errors
                self.syncing.result()
            self.syncing = None

    @property
    def offset(self) -> int:
        return self.writer.offset

    @property
    def range(self) -> str:
        """The Range header of this session, as docker-registry writes it ("0-0" for
        an empty upload, else the inclusive span written so far)."""
        return f"0-{max(self.offset - 1, 0)}"

    def location(self) -> str:
        return f"/v2/{self.name}/blobs/uploads/{self.id}"


def _ref(name: str, upload_id: str) -> str:
    return f"{_REF_PREFIX}{name}:{upload_id}"


def _is_upload_id(text: str) -> bool:
    try:
        return str(uuid_module.UUID(text)) == text
    except ValueError:
        return False


class Uploads:
    """The sessions of one server process."""

    def __init__(self, storage: RegistryStorage, *, timeout: float, limit: int) -> None:
        self.storage = storage
        self.timeout = timeout
        self.limit = limit
        self._open: dict[str, Upload] = {}

    def __len__(self) -> int:
        return len(self._open)

    def start(self, name: str) -> Upload:
        if len(self._open) >= self.limit:
            raise RegistryError(
                "TOOMANYREQUESTS",
                f"too many uploads in progress (at most {self.limit}); retry later",
                detail={"uploads": len(self._open)},
                headers=[("Retry-After", "5")],
            )
        upload_id = str(uuid_module.uuid4())
        writer = self.storage.content.writer(_ref(name, upload_id), timeout=0)
        upload = Upload(upload_id, name, writer)
        self._open[upload_id] = upload
        return upload

    def get(self, name: str, upload_id: str) -> Upload:
        """The session `upload_id` of repository `name`, reopened from disk if this
        process does not hold it; BLOB_UPLOAD_UNKNOWN if there is none."""
        unknown = RegistryError("BLOB_UPLOAD_UNKNOWN", detail={"uuid": upload_id})
        upload = self._open.get(upload_id)
        if upload is not None:
            if upload.name != name:
                raise unknown
            return upload
        if not _is_upload_id(upload_id):
            raise unknown
        ref = _ref(name, upload_id)
        try:
            status = self.storage.content.ingest_status(ref)
        except NotFound:
            raise unknown from None
        if time.time() - status.updated > self.timeout:
            self.storage.content.abort(ref, wait=False)
            raise unknown
        if len(self._open) >= self.limit:
            raise RegistryError(
                "TOOMANYREQUESTS",
                f"too many uploads in progress (at most {self.limit}); retry later",
                headers=[("Retry-After", "5")],
            )
        try:
            writer = self.storage.content.writer(ref, timeout=0)
        except Timeout:
            raise RegistryError(
                "BLOB_UPLOAD_INVALID",
                "the upload is being written by another process",
                detail={"uuid": upload_id},
            ) from None
        upload = Upload(upload_id, name, writer)
        self._open[upload_id] = upload
        return upload

    def cancel(self, upload: Upload) -> None:
        self._open.pop(upload.id, None)
        upload.settle()
        upload.writer.abort()

    def commit(self, upload: Upload, digest: Digest) -> BlobInfo:
        """Verify and keep the blob (blocking: the caller runs it in a thread). A size
        or digest mismatch deletes the upload and raises DIGEST_INVALID."""
        self._open.pop(upload.id, None)
        upload.settle()
        try:
            info = upload.writer.commit(digest)
        except DigestMismatch as error:
            raise RegistryError(
                "DIGEST_INVALID",
                f"provided digest did not match uploaded content: {error.message}",
                detail={"digest": str(digest), "actual": error.actual},
            ) from None
        except BaseException:
            upload.writer.abort()
            raise
        self.storage.link_blob(upload.name, info.digest)
        return info

    def expire(self) -> int:
        """Abort the sessions nobody wrote to for `timeout` seconds, then whatever
        ingests earlier runs of the server (or a crash) left on disk. Returns how many
        of this process's sessions went."""
        now = time.monotonic()
        expired = [
            upload
            for upload in self._open.values()
            if not upload.lock.locked() and now - upload.touched > self.timeout
        ]
        for upload in expired:
            self.cancel(upload)
        with contextlib.suppress(OSError):
            self.storage.content.remove_stale_ingests(self.timeout)
        return len(expired)

    def close(self) -> None:
        """Stop: release every writer, keeping the data for a client that resumes."""
        for upload in self._open.values():
            upload.settle()
            upload.writer.close()
        self._open.clear()
