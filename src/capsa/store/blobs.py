"""The content store: blobs addressed by digest, verified when written and when read.

Layout under the store root:

    blobs/<algorithm>/<hex>      finished blobs, read-only (0444), never changed in place
    ingest/<key>/data            a blob being written, named by the caller's ref
    ingest/<key>/ref, meta.json  the ref itself; expected digest and size, start time
    ingest/<key>.lock            flock held by the one writer of that ref

A blob is written through an ingest: streamed into `data`, hashed while written, and on
commit its size and digest are checked, it is fsync'd and renamed into `blobs/` (then the
directory is fsync'd). A mismatch deletes the ingest: nothing is left. The rename is
idempotent, so any number of processes may write the same blob at once; one ingest ref
has one writer at a time (a file lock), and an ingest left by a crash or a broken
download can be resumed from its `offset`.
"""

from __future__ import annotations

import builtins
import contextlib
import hashlib
import json
import os
import secrets
import shutil
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from capsa.errors import AlreadyExists, Conflict, InvalidArgument, NotFound
from capsa.oci.digest import REGISTERED, Digest
from capsa.store._files import CHUNK, FileLock, fsync_dir, write_atomic
from capsa.store.errors import BlobCorrupted, DigestMismatch


@runtime_checkable
class Readable(Protocol):
    def read(self, size: int = -1, /) -> bytes: ...


@dataclass(frozen=True)
class BlobInfo:
    digest: Digest
    size: int
    modified: float = 0.0  # mtime: when it was last committed


@dataclass(frozen=True)
class IngestStatus:
    ref: str
    offset: int
    expected: Digest | None
    total: int | None
    started: float
    updated: float


def _digest_of(value: Digest | str) -> Digest:
    digest = value if isinstance(value, Digest) else Digest.parse(value)
    if digest.algorithm not in REGISTERED:
        raise InvalidArgument(
            f"unsupported digest algorithm in {digest}", hint="the store keeps sha256 and sha512"
        )
    return digest


class ContentStore:
    """Blobs under `root` (the store root: `blobs/` and `ingest/` are made inside it)."""

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root)
        self.blobs_dir = self.root / "blobs"
        self.ingest_dir = self.root / "ingest"
        for directory in (self.root, self.blobs_dir, self.ingest_dir):
            directory.mkdir(mode=0o700, parents=True, exist_ok=True)

    # -- reading -------------------------------------------------------------------------

    def path(self, digest: Digest | str) -> Path:
        digest = _digest_of(digest)
        return self.blobs_dir / digest.algorithm / digest.encoded

    def exists(self, digest: Digest | str) -> bool:
        return self.path(digest).is_file()

    def info(self, digest: Digest | str) -> BlobInfo:
        digest = _digest_of(digest)
        try:
            st = os.stat(self.path(digest))
        except FileNotFoundError:
            raise NotFound(f"blob {digest} not found in the content store") from None
        return BlobInfo(digest, st.st_size, st.st_mtime)

    def size(self, digest: Digest | str) -> int:
        return self.info(digest).size

    def open(self, digest: Digest | str) -> VerifiedReader:
        """A reader that hashes what it returns and raises BlobCorrupted at end of file
        if the content does not match `digest`."""
        digest = _digest_of(digest)
        try:
            fd = os.open(self.path(digest), os.O_RDONLY | os.O_CLOEXEC)
        except FileNotFoundError:
            raise NotFound(f"blob {digest} not found in the content store") from None
        return VerifiedReader(fd, digest, str(self.path(digest)))

    def read_verified(self, digest: Digest | str, *, max_size: int | None = None) -> bytes:
        """The whole blob, checked against its digest (for manifests and configs)."""
        with self.open(digest) as reader:
            if max_size is not None and reader.size > max_size:
                raise InvalidArgument(
                    f"blob {reader.digest} is {reader.size} bytes, more than {max_size} allowed"
                )
            return reader.read()

    def list(self) -> Iterator[BlobInfo]:
        for algorithm, length in REGISTERED.items():
            directory = self.blobs_dir / algorithm
            try:
                entries = os.scandir(directory)
            except FileNotFoundError:
                continue
            with entries:
                for entry in entries:
                    name = entry.name
                    if len(name) != length or not entry.is_file(follow_symlinks=False):
                        continue
                    try:
                        digest = Digest.parse(f"{algorithm}:{name}")
                        st = entry.stat(follow_symlinks=False)
                    except (InvalidArgument, FileNotFoundError):
                        continue
                    yield BlobInfo(digest, st.st_size, st.st_mtime)

    def delete(self, digest: Digest | str) -> None:
        digest = _digest_of(digest)
        try:
            os.unlink(self.path(digest))
        except FileNotFoundError:
            raise NotFound(f"blob {digest} not found in the content store") from None

    # -- writing -------------------------------------------------------------------------

    def writer(
        self,
        ref: str,
        *,
        expected: Digest | str | None = None,
        total: int | None = None,
        timeout: float | None = None,
    ) -> IngestWriter:
        """Open (or resume) the ingest named `ref`. Raises AlreadyExists if `expected` is
        already stored, Timeout if another writer holds `ref` longer than `timeout`.

        A resumed ingest keeps its data when `expected` and `total` match what it was
        started with (`writer.offset` says how much the caller may skip); otherwise it
        starts over.
        """
        if not ref:
            raise InvalidArgument("an ingest needs a non-empty ref")
        expected_digest = None if expected is None else _digest_of(expected)
        if total is not None and total < 0:
            raise InvalidArgument(f"invalid blob size {total} for ingest {ref!r}")
        key = hashlib.sha256(ref.encode()).hexdigest()
        lock = FileLock(self.ingest_dir / f"{key}.lock")
        lock.acquire(timeout=timeout)
        try:
            return self._open_writer(ref, key, lock, expected_digest, total)
        except BaseException:
            lock.release()
            raise

    def _open_writer(
        self, ref: str, key: str, lock: FileLock, expected: Digest | None, total: int | None
    ) -> IngestWriter:
        directory = self.ingest_dir / key
        if expected is not None and self.exists(expected):
            shutil.rmtree(directory, ignore_errors=True)
            lock.release(remove=True)
            raise AlreadyExists(f"blob {expected} already exists")
        meta = _read_meta(directory)
        algorithm = expected.algorithm if expected is not None else "sha256"
        resume = (
            meta is not None
            and meta.get("expected") == (None if expected is None else str(expected))
            and meta.get("total") == total
        )
        if not resume:
            shutil.rmtree(directory, ignore_errors=True)
            directory.mkdir(mode=0o700)
            (directory / "ref").write_text(ref)
            meta = {
                "expected": None if expected is None else str(expected),
                "total": total,
                "started": time.time(),
            }
            write_atomic(directory / "meta.json", json.dumps(meta).encode(), 0o600)
        assert meta is not None
        data_path = directory / "data"
        fd = os.open(data_path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            hasher = hashlib.new(algorithm)
            offset = 0
            buffer = bytearray(CHUNK)
            view = memoryview(buffer)
            while True:  # re-hash what a previous writer left (hash state is not saved)
                count = os.readv(fd, [buffer])
                if not count:
                    break
                hasher.update(view[:count])
                offset += count
            if total is not None and offset > total:
                os.ftruncate(fd, 0)
                hasher = hashlib.new(algorithm)
                offset = 0
            os.lseek(fd, offset, os.SEEK_SET)
        except BaseException:
            os.close(fd)
            raise
        return IngestWriter(
            self, ref, directory, lock, fd, hasher, offset, expected, total, float(meta["started"])
        )

    def write(self, data: bytes, *, expected: Digest | str | None = None) -> BlobInfo:
        """Store a small blob held in memory."""
        return self.write_stream([data], expected=expected, total=len(data))

    def write_stream(
        self,
        source: Readable | Iterable[bytes],
        *,
        expected: Digest | str | None = None,
        total: int | None = None,
        ref: str | None = None,
        timeout: float | None = None,
    ) -> BlobInfo:
        """Stream `source` into a blob; a blob that already exists is not read again.

        `source` is a binary file (read in 1 MiB pieces; a seekable one lets a resumed
        ingest skip what it already has) or an iterable of byte strings.
        """
        expected_digest = None if expected is None else _digest_of(expected)
        if expected_digest is not None and self.exists(expected_digest):
            return self.info(expected_digest)
        if ref is None:
            ref = f"write-{expected_digest or secrets.token_hex(16)}"
        try:
            writer = self.writer(ref, expected=expected_digest, total=total, timeout=timeout)
        except AlreadyExists:
            assert expected_digest is not None
            return self.info(expected_digest)
        with writer:
            if writer.offset:
                seek = getattr(source, "seek", None)
                seekable = getattr(source, "seekable", None)
                if seek is not None and seekable is not None and seekable():
                    seek(writer.offset)
                else:
                    writer.truncate()
            for chunk in chunks_of(source):
                writer.write(chunk)
            return writer.commit()

    # -- ingests -------------------------------------------------------------------------

    def ingests(self) -> builtins.list[IngestStatus]:
        statuses = []
        for entry in sorted(os.listdir(self.ingest_dir)):
            if entry.endswith(".lock"):
                continue
            status = self._status(self.ingest_dir / entry)
            if status is not None:
                statuses.append(status)
        return statuses

    def ingest_status(self, ref: str) -> IngestStatus:
        key = hashlib.sha256(ref.encode()).hexdigest()
        status = self._status(self.ingest_dir / key)
        if status is None:
            raise NotFound(f"no ingest {ref!r} in progress")
        return status

    def _status(self, directory: Path) -> IngestStatus | None:
        meta = _read_meta(directory)
        if meta is None:
            return None
        try:
            ref = (directory / "ref").read_text()
            st = os.stat(directory / "data")
        except FileNotFoundError:
            return None
        expected = meta.get("expected")
        return IngestStatus(
            ref=ref,
            offset=st.st_size,
            expected=None if expected is None else Digest.parse(expected),
            total=meta.get("total"),
            started=float(meta.get("started", 0.0)),
            updated=st.st_mtime,
        )

    def abort(self, ref: str, *, wait: bool = True) -> bool:
        """Delete the ingest `ref`. Returns False if it is being written (and not wait)."""
        key = hashlib.sha256(ref.encode()).hexdigest()
        return self._abort_key(key, wait=wait)

    def _abort_key(self, key: str, *, wait: bool) -> bool:
        directory = self.ingest_dir / key
        lock = FileLock(self.ingest_dir / f"{key}.lock")
        if not lock.acquire(blocking=wait):
            return False
        try:
            shutil.rmtree(directory, ignore_errors=True)
        finally:
            lock.release(remove=True)
        return True

    def remove_stale_ingests(
        self, older_than: float, keep: Iterable[str] = ()
    ) -> builtins.list[str]:
        """Abort ingests not written to for `older_than` seconds and not being written
        now, except the refs in `keep`. Returns the refs removed."""
        keep_set = set(keep)
        now = time.time()
        removed: builtins.list[str] = []
        for status in self.ingests():
            if status.ref in keep_set or now - status.updated < older_than:
                continue
            if self.abort(status.ref, wait=False):
                removed.append(status.ref)
        # lock files whose ingest is gone (a crash between rmtree and unlink)
        for entry in os.listdir(self.ingest_dir):
            if entry.endswith(".lock") and not (self.ingest_dir / entry[:-5]).exists():
                self._abort_key(entry[:-5], wait=False)
        return removed


class IngestWriter:
    """One writer of one ingest. Use as a context manager: leaving it without commit
    keeps the data written so far for a later resume (use `abort` to drop it)."""

    def __init__(
        self,
        store: ContentStore,
        ref: str,
        directory: Path,
        lock: FileLock,
        fd: int,
        hasher: hashlib._Hash,
        offset: int,
        expected: Digest | None,
        total: int | None,
        started: float,
    ) -> None:
        self.store = store
        self.ref = ref
        self.directory = directory
        self._lock = lock
        self._fd = fd
        self._hasher = hasher
        self._offset = offset
        self.expected = expected
        self.total = total
        self.started = started

    @property
    def offset(self) -> int:
        return self._offset

    @property
    def closed(self) -> bool:
        return self._fd < 0

    def _check_open(self) -> None:
        if self._fd < 0:
            raise Conflict(f"ingest {self.ref!r} is closed")

    def write(self, data: bytes | bytearray | memoryview) -> int:
        self._check_open()
        view = memoryview(data).cast("B")
        size = len(view)
        if self.total is not None and self._offset + size > self.total:
            self.abort()
            raise DigestMismatch(
                f"blob for ingest {self.ref!r} is larger than the expected {self.total} bytes",
                expected=str(self.total),
                actual=f">{self.total}",
            )
        self._hasher.update(view)
        while view:
            view = view[os.write(self._fd, view) :]
        self._offset += size
        return size

    def sync(self) -> None:
        """Flush what was written so far to disk, so that a long ingest spreads its
        writeback over the transfer instead of paying it all at commit."""
        self._check_open()
        os.fdatasync(self._fd)

    def truncate(self) -> None:
        """Start over from an empty ingest."""
        self._check_open()
        os.ftruncate(self._fd, 0)
        os.lseek(self._fd, 0, os.SEEK_SET)
        self._hasher = hashlib.new(self._hasher.name)
        self._offset = 0

    def digest(self) -> Digest:
        return Digest(self._hasher.name, self._hasher.hexdigest())

    def commit(self, expected: Digest | str | None = None, *, size: int | None = None) -> BlobInfo:
        """Verify size and digest, then move the blob into place (atomically, durably)."""
        self._check_open()
        expected_digest = self.expected if expected is None else _digest_of(expected)
        size = self.total if size is None else size
        if size is not None and self._offset != size:
            self.abort()
            raise DigestMismatch(
                f"blob for ingest {self.ref!r} has {self._offset} bytes, expected {size}",
                expected=str(size),
                actual=str(self._offset),
            )
        actual = self.digest()
        if expected_digest is not None:
            if expected_digest.algorithm != actual.algorithm:
                hasher = hashlib.new(expected_digest.algorithm)
                os.lseek(self._fd, 0, os.SEEK_SET)
                for chunk in iter(lambda: os.read(self._fd, CHUNK), b""):
                    hasher.update(chunk)
                actual = Digest(expected_digest.algorithm, hasher.hexdigest())
            if actual != expected_digest:
                self.abort()
                raise DigestMismatch(
                    f"content of ingest {self.ref!r} has digest {actual}, "
                    f"expected {expected_digest}",
                    expected=str(expected_digest),
                    actual=str(actual),
                    hint="the source is corrupt or the descriptor is wrong",
                )
        target = self.store.path(actual)
        target.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        os.fsync(self._fd)
        os.fchmod(self._fd, 0o444)
        os.close(self._fd)
        self._fd = -1
        os.rename(self.directory / "data", target)
        fsync_dir(target.parent)
        shutil.rmtree(self.directory, ignore_errors=True)
        self._lock.release(remove=True)
        return BlobInfo(actual, self._offset, time.time())

    def close(self) -> None:
        """Stop writing; keep what was written for a resume."""
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1
        self._lock.release()

    def abort(self) -> None:
        """Stop writing and delete the ingest."""
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1
        if self._lock.held:
            shutil.rmtree(self.directory, ignore_errors=True)
            self._lock.release(remove=True)

    def __enter__(self) -> IngestWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class VerifiedReader:
    """A blob opened for reading: what it returns is hashed, and when the last byte has
    been read the digest is checked (BlobCorrupted if it differs)."""

    def __init__(self, fd: int, digest: Digest, path: str) -> None:
        self._fd = fd
        self.digest = digest
        self.path = path
        self.size = os.fstat(fd).st_size
        self._hasher = digest.hasher()
        self._position = 0
        self.verified = False

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1, /) -> bytes:
        if self._fd < 0:
            raise ValueError("read from a closed blob reader")
        if size is None or size < 0:
            parts: list[bytes] = []
            while True:
                part = self.read(CHUNK)
                if not part:
                    return b"".join(parts)
                parts.append(part)
        data = os.read(self._fd, size)
        if data:
            self._hasher.update(data)
            self._position += len(data)
        if self._position >= self.size or (not data and size):
            self._finish()
        return data

    def readinto(self, buffer: bytearray | memoryview) -> int:
        if self._fd < 0:
            raise ValueError("read from a closed blob reader")
        view = memoryview(buffer).cast("B")
        count = os.readv(self._fd, [view])
        if count:
            self._hasher.update(view[:count])
            self._position += count
        if self._position >= self.size or (not count and len(view)):
            self._finish()
        return count

    def _finish(self) -> None:
        if self.verified:
            return
        actual = Digest(self.digest.algorithm, self._hasher.hexdigest())
        if self._position != self.size or actual != self.digest:
            raise BlobCorrupted(
                f"blob {self.digest} is corrupt: its content hashes to {actual}",
                expected=str(self.digest),
                actual=str(actual),
                hint=f"remove {self.path} and pull or load the image again",
            )
        self.verified = True

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1

    def __enter__(self) -> VerifiedReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def chunks_of(source: Readable | Iterable[bytes]) -> Iterator[bytes | memoryview]:
    if isinstance(source, Readable):
        readinto = getattr(source, "readinto", None)
        if readinto is not None:
            buffer = bytearray(CHUNK)
            view = memoryview(buffer)
            while True:
                count = readinto(view)
                if not count:
                    return
                yield view[:count]
        while True:
            chunk = source.read(CHUNK)
            if not chunk:
                return
            yield chunk
    else:
        yield from source


def _read_meta(directory: Path) -> dict[str, Any] | None:
    try:
        data = (directory / "meta.json").read_bytes()
    except (FileNotFoundError, NotADirectoryError):
        return None
    with contextlib.suppress(ValueError):
        meta = json.loads(data)
        if isinstance(meta, dict):
            return meta
    return None
