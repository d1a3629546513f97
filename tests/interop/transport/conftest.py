"""Fixtures of the transport interop tests: a real busybox image made by capsa."""

from __future__ import annotations

import io
import sys
import tarfile
from collections.abc import Iterator
from pathlib import Path

import pytest

# The image builder of the unit tests (tests/unit/transport/transport_images.py).
sys.path.insert(0, str(Path(__file__).parents[2] / "unit" / "transport"))

from transport_images import BuiltImage, image_of_tars, layer_tar

from capsa.errors import NotFound
from capsa.oci.media_types import Compression
from capsa.runtime.busybox_bundle import make_rootfs


def _tar_directory(root: Path) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for path in sorted(root.rglob("*")):
            info = tar.gettarinfo(str(path), arcname=str(path.relative_to(root)))
            info.uid = info.gid = 0
            info.uname = info.gname = "root"
            info.mtime = 0
            if info.isreg():
                with open(path, "rb") as file:
                    tar.addfile(info, file)
            else:
                tar.addfile(info)
    return buffer.getvalue()


@pytest.fixture(scope="session")
def busybox_tar(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    rootfs = tmp_path_factory.mktemp("busybox") / "rootfs"
    try:
        make_rootfs(str(rootfs))
    except NotFound:
        pytest.skip("busybox-static is not installed")
    return _tar_directory(rootfs)


@pytest.fixture(scope="session")
def busybox_image(busybox_tar: bytes) -> Iterator[BuiltImage]:
    """Three layers: busybox (gzip), a file in zstd, a file in a plain tar."""
    yield image_of_tars(
        [
            (busybox_tar, Compression.GZIP),
            (layer_tar({"etc/capsa-release": b"zstd layer\n"}), Compression.ZSTD),
            (layer_tar({"srv/hello": b"hello from capsa\n"}), Compression.NONE),
        ],
        cmd=["sh", "-c", "cat /srv/hello /etc/capsa-release"],
    )


@pytest.fixture(scope="session")
def busybox_gzip_image(busybox_tar: bytes) -> Iterator[BuiltImage]:
    """Gzip layers only, which skopeo copies as they are: it cannot write zstd into a
    docker-archive (1.9), and it gzips plain layers it writes into an OCI layout."""
    yield image_of_tars(
        [
            (busybox_tar, Compression.GZIP),
            (layer_tar({"srv/hello": b"hello from capsa\n"}), Compression.GZIP),
        ],
        cmd=["sh", "-c", "cat /srv/hello"],
    )
