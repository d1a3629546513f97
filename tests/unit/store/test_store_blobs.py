"""The content store: verify on write and read, nothing left by a mismatch, concurrent
writers of one blob, resumable ingests."""

from __future__ import annotations

import io
import multiprocessing
import os
import threading
from pathlib import Path

import pytest

from capsa.errors import AlreadyExists, InvalidArgument, NotFound, Timeout
from capsa.oci.digest import Digest
from capsa.store.blobs import ContentStore
from capsa.store.errors import BlobCorrupted, DigestMismatch


def leftovers(store: ContentStore) -> list[str]:
    return sorted(os.listdir(store.ingest_dir))


def test_write_and_read_back(tmp_path: Path) -> None:
    store = ContentStore(tmp_path)
    data = b"hello blob\n" * 1000
    info = store.write(data)
    assert info.digest == Digest.of(data)
    assert info.size == len(data)
    path = store.path(info.digest)
    assert path == tmp_path / "blobs" / "sha256" / info.digest.encoded
    assert path.stat().st_mode & 0o777 == 0o444
    assert store.exists(info.digest) and store.size(info.digest) == len(data)
    assert store.read_verified(info.digest) == data
    assert [blob.digest for blob in store.list()] == [info.digest]
    assert leftovers(store) == []


def test_expected_digest_mismatch_leaves_nothing(tmp_path: Path) -> None:
    store = ContentStore(tmp_path)
    wrong = Digest.of(b"something else")
    with pytest.raises(DigestMismatch) as caught:
        store.write(b"actual content", expected=wrong)
    assert isinstance(caught.value, InvalidArgument)
    assert caught.value.expected == str(wrong)
    assert not store.exists(wrong)
    assert list(store.list()) == []
    assert leftovers(store) == []


def test_size_mismatch_leaves_nothing(tmp_path: Path) -> None:
    store = ContentStore(tmp_path)
    data = b"0123456789"
    with pytest.raises(DigestMismatch, match="expected 11"):
        store.write_stream([data], expected=Digest.of(data), total=11)
    with pytest.raises(DigestMismatch, match="larger than"):
        store.write_stream([data, b"x"], expected=Digest.of(data), total=10)
    assert list(store.list()) == []
    assert leftovers(store) == []


def test_sha512_is_accepted(tmp_path: Path) -> None:
    store = ContentStore(tmp_path)
    data = b"sha512 content"
    expected = Digest.of(data, "sha512")
    info = store.write(data, expected=expected)
    assert info.digest == expected
    assert store.path(expected).parent.name == "sha512"
    assert store.read_verified(expected) == data


def test_write_stream_from_file_in_chunks(tmp_path: Path) -> None:
    store = ContentStore(tmp_path / "store")
    data = os.urandom(3 * (1 << 20) + 17)
    info = store.write_stream(io.BytesIO(data), expected=Digest.of(data), total=len(data))
    assert info.size == len(data)
    with store.open(info.digest) as reader:
        chunks = []
        while chunk := reader.read(1 << 20):
            chunks.append(chunk)
        assert reader.verified
    assert b"".join(chunks) == data


def test_existing_blob_is_not_read_again(tmp_path: Path) -> None:
    store = ContentStore(tmp_path)
    data = b"already here"
    store.write(data)

    class Exploding(io.RawIOBase):
        def readable(self) -> bool:
            return True

        def readinto(self, buffer: object) -> int:
            raise AssertionError("source was read")

    store.write_stream(Exploding(), expected=Digest.of(data))
    with pytest.raises(AlreadyExists):
        store.writer("ref", expected=Digest.of(data))


def test_corruption_is_detected_on_read(tmp_path: Path) -> None:
    store = ContentStore(tmp_path)
    data = b"a" * 5000
    digest = store.write(data).digest
    path = store.path(digest)
    path.chmod(0o644)
    path.write_bytes(b"b" + data[1:])
    with pytest.raises(BlobCorrupted, match="corrupt"):
        store.read_verified(digest)
    # a streaming read returns data until the end, then raises
    with store.open(digest) as reader:
        assert reader.read(100) == b"b" + b"a" * 99
        with pytest.raises(BlobCorrupted):
            reader.read()
    # a truncated blob is corrupt as well
    path.write_bytes(data[:10])
    with pytest.raises(BlobCorrupted):
        store.read_verified(digest)


def test_missing_blob_and_bad_digest(tmp_path: Path) -> None:
    store = ContentStore(tmp_path)
    missing = Digest.of(b"nope")
    with pytest.raises(NotFound):
        store.open(missing)
    with pytest.raises(NotFound):
        store.info(missing)
    with pytest.raises(NotFound):
        store.delete(missing)
    with pytest.raises(InvalidArgument):
        store.path("sha256:../../etc/passwd")
    with pytest.raises(InvalidArgument):
        store.path("md5:d41d8cd98f00b204e9800998ecf8427e")


def test_delete(tmp_path: Path) -> None:
    store = ContentStore(tmp_path)
    digest = store.write(b"x").digest
    store.delete(digest)
    assert not store.exists(digest)
    assert list(store.list()) == []


def test_resume_an_interrupted_ingest(tmp_path: Path) -> None:
    store = ContentStore(tmp_path)
    data = os.urandom(200_000)
    expected = Digest.of(data)
    with store.writer("pull-layer", expected=expected, total=len(data)) as writer:
        writer.write(data[:70_000])
    status = store.ingest_status("pull-layer")
    assert (status.offset, status.expected, status.total) == (70_000, expected, len(data))
    # a later process resumes where the first one stopped
    with store.writer("pull-layer", expected=expected, total=len(data)) as writer:
        assert writer.offset == 70_000
        writer.write(data[writer.offset :])
        info = writer.commit()
    assert info.digest == expected
    assert store.read_verified(expected) == data
    assert store.ingests() == []
    assert leftovers(store) == []


def test_resume_with_other_expectations_starts_over(tmp_path: Path) -> None:
    store = ContentStore(tmp_path)
    with store.writer("ref", total=10) as writer:
        writer.write(b"12345")
    with store.writer("ref", total=20) as writer:
        assert writer.offset == 0


def test_write_stream_resumes_seekable_source(tmp_path: Path) -> None:
    store = ContentStore(tmp_path)
    data = os.urandom(100_000)
    with store.writer("r", expected=Digest.of(data), total=len(data)) as writer:
        writer.write(data[:1000])
    reads: list[int] = []

    class Counting(io.BytesIO):
        def readinto(self, buffer: object) -> int:
            count = super().readinto(buffer)  # type: ignore[arg-type]
            reads.append(count)
            return count

    info = store.write_stream(Counting(data), expected=Digest.of(data), total=len(data), ref="r")
    assert info.digest == Digest.of(data)
    assert sum(reads) == len(data) - 1000


def test_abort_and_stale_ingests(tmp_path: Path) -> None:
    store = ContentStore(tmp_path)
    with store.writer("old") as writer:
        writer.write(b"partial")
    with store.writer("new") as writer:
        writer.write(b"partial")
    old_key = next(
        d
        for d in os.listdir(store.ingest_dir)
        if (store.ingest_dir / d / "ref").exists()
        and (store.ingest_dir / d / "ref").read_text() == "old"
    )
    old_data = store.ingest_dir / old_key / "data"
    os.utime(old_data, (1, 1))
    assert store.remove_stale_ingests(older_than=3600) == ["old"]
    assert [s.ref for s in store.ingests()] == ["new"]
    assert store.abort("new")
    assert leftovers(store) == []


def test_one_writer_per_ref(tmp_path: Path) -> None:
    store = ContentStore(tmp_path)
    first = store.writer("busy")
    try:
        with pytest.raises(Timeout):
            store.writer("busy", timeout=0.05)
        assert not store.abort("busy", wait=False)
        assert store.remove_stale_ingests(older_than=0) == []
    finally:
        first.close()


def test_threads_writing_the_same_blob(tmp_path: Path) -> None:
    store = ContentStore(tmp_path)
    data = os.urandom(1 << 20)
    errors: list[BaseException] = []

    def write(ref: str | None) -> None:
        try:
            store.write_stream(io.BytesIO(data), expected=Digest.of(data), ref=ref)
        except BaseException as error:
            errors.append(error)

    threads = [threading.Thread(target=write, args=(None if i % 2 else f"r{i}",)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert store.read_verified(Digest.of(data)) == data
    assert leftovers(store) == []


def _write_in_process(root: str, seed: int, ref: str | None) -> None:
    data = bytes([seed % 256]) * (3 << 20)
    ContentStore(root).write_stream(io.BytesIO(data), expected=Digest.of(data), ref=ref)


def test_processes_writing_the_same_blob(tmp_path: Path) -> None:
    context = multiprocessing.get_context("fork")
    processes = [
        context.Process(
            target=_write_in_process, args=(str(tmp_path), 7, None if i % 2 else "same")
        )
        for i in range(6)
    ]
    for process in processes:
        process.start()
    for process in processes:
        process.join(60)
        assert process.exitcode == 0
    store = ContentStore(tmp_path)
    data = bytes([7]) * (3 << 20)
    assert [blob.digest for blob in store.list()] == [Digest.of(data)]
    assert store.read_verified(Digest.of(data)) == data
    assert leftovers(store) == []
