"""The pieces under the transports: tar writing with rollback, compression, contexts."""

from __future__ import annotations

import io
import tarfile
from pathlib import Path

import pytest
from transport_images import compress, image_source, layer_tar, simple_image

from capsa.errors import InvalidArgument
from capsa.oci.descriptor import Descriptor
from capsa.oci.media_types import Compression
from capsa.transport import compression
from capsa.transport._tar import TarReader, TarWriter
from capsa.transport.copy import copy_image
from capsa.transport.errors import DigestMismatch
from capsa.transport.open import reading, writing
from capsa.transport.types import BlobProgress
from capsa.transport.verify import copy_verified


def test_tar_writer_cuts_back_a_failed_member(tmp_path: Path) -> None:
    path = tmp_path / "a.tar"
    good = Descriptor.from_bytes("application/octet-stream", b"good" * 1000)
    with open(path, "w+b") as file:
        writer = TarWriter(file)
        writer.add_bytes("first", b"one")
        size_before = file.tell()
        bad = Descriptor.from_bytes("application/octet-stream", b"x" * 5000)
        with pytest.raises(DigestMismatch):
            writer.add_stream(
                "second",
                bad.size,
                lambda write: copy_verified(io.BytesIO(b"y" * 5000), write, bad),
            )
        assert file.tell() == size_before
        assert "second" not in writer
        writer.add_stream(
            "third", good.size, lambda write: copy_verified(io.BytesIO(b"good" * 1000), write, good)
        )
        writer.add_symlink("link", "third")
        writer.finish()
    assert path.stat().st_size % tarfile.RECORDSIZE == 0
    with tarfile.open(path) as tar:
        assert tar.getnames() == ["first", "third", "link"]
        assert all(m.mtime == 0 and m.uid == 0 for m in tar.getmembers())
    reader = TarReader(str(path), "test")
    assert reader.open("./link").read() == b"good" * 1000
    reader.close()


def test_tar_reader_stays_inside_the_archive(tmp_path: Path) -> None:
    path = tmp_path / "links.tar"
    with tarfile.open(path, "w") as tar:
        for name, target in (("up", "../../etc/passwd"), ("loop", "loop"), ("abs", "/file")):
            info = tarfile.TarInfo(name)
            info.type = tarfile.SYMTYPE
            info.linkname = target
            tar.addfile(info)
        info = tarfile.TarInfo("file")
        info.size = 2
        tar.addfile(info, io.BytesIO(b"ok"))
    reader = TarReader(str(path), "test")
    assert reader.open("abs").read() == b"ok"  # absolute links resolve in the archive
    assert not reader.exists("up")
    with pytest.raises(InvalidArgument, match="loop of links"):
        reader.open("loop")
    reader.close()


@pytest.mark.parametrize("kind", list(Compression))
def test_detect_and_decompress(kind: Compression) -> None:
    raw = layer_tar({"a": b"a" * 10000})
    packed = compress(raw, kind)
    assert compression.detect(packed[:4]) is kind
    assert compression.decompressed(io.BytesIO(packed), kind).read() == raw


def test_corrupt_compressed_stream() -> None:
    packed = bytearray(compress(layer_tar({"a": b"a" * 10000}), Compression.GZIP))
    packed[20:40] = b"\0" * 20
    with pytest.raises(compression.CorruptStream):
        compression.decompressed(io.BytesIO(bytes(packed)), Compression.GZIP).read()


def test_uncompressed_types() -> None:
    from capsa.oci import media_types as mt

    assert compression.uncompressed_type(mt.OCI_LAYER_ZSTD) == mt.OCI_LAYER
    assert compression.uncompressed_type(mt.DOCKER_LAYER_ZSTD) == mt.DOCKER_LAYER
    assert (
        compression.uncompressed_type(mt.OCI_LAYER_NONDISTRIBUTABLE_ZSTD)
        == mt.OCI_LAYER_NONDISTRIBUTABLE
    )


def test_writing_context_aborts_on_error(tmp_path: Path) -> None:
    archive = tmp_path / "a.tar"
    with pytest.raises(RuntimeError), writing(f"oci-archive:{archive}:v1") as dst:
        copy_image(image_source(simple_image()), dst)
        raise RuntimeError("the caller failed after the copy")
    assert list(tmp_path.iterdir()) == []
    with writing(f"oci-archive:{archive}:v1") as dst:
        copy_image(image_source(simple_image()), dst)
    with reading(f"oci-archive:{archive}:v1") as src:
        assert src.top_manifest()[0] == simple_image().manifest


def test_progress_while_decompressing(tmp_path: Path) -> None:
    image = simple_image()
    events: list[BlobProgress] = []
    with writing(f"docker-archive:{tmp_path / 'd.tar'}:a:b") as dst:
        copy_image(image_source(image), dst, progress=events.append)
    zstd_layer = image.parsed.layers[1]
    seen = [e for e in events if e.descriptor.digest == zstd_layer.digest]
    assert seen and seen[-1].done == seen[-1].total == zstd_layer.size
