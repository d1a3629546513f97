"""Images cross over: capsa's layouts and archives read by skopeo and podman, theirs by
capsa. Debian's skopeo (1.9) and podman (4.3); root only (tests/interop/conftest.py)."""

from __future__ import annotations

import json
import shutil
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from transport_images import BuiltImage, image_source

from capsa.oci import media_types as mt
from capsa.oci.digest import Digest
from capsa.oci.manifest import Manifest, parse_manifest_or_index
from capsa.transport.copy import copy_image
from capsa.transport.docker_archive.source import DockerArchiveSource
from capsa.transport.open import open_destination, open_source, reading, writing

SKOPEO = shutil.which("skopeo")
PODMAN = shutil.which("podman")
RUNC = shutil.which("runc")

needs_skopeo = pytest.mark.skipif(SKOPEO is None, reason="skopeo is not installed")
needs_podman = pytest.mark.skipif(PODMAN is None, reason="podman is not installed")


def skopeo(*args: str) -> str:
    assert SKOPEO is not None
    result = subprocess.run(
        [SKOPEO, "--insecure-policy", *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, f"skopeo {' '.join(args)}: {result.stderr}"
    return result.stdout


def capsa_copy(source: Any, destination: str) -> Digest:
    src = open_source(source) if isinstance(source, str) else source
    dst = open_destination(destination)
    try:
        top = copy_image(src, dst)
    except BaseException:
        dst.abort()
        raise
    finally:
        src.close()
    dst.close()
    return top.digest


def read_manifest(location: str) -> tuple[Manifest, bytes]:
    src = open_source(location)
    try:
        data, media_type = src.top_manifest()
    finally:
        src.close()
    manifest = parse_manifest_or_index(data, media_type)
    assert isinstance(manifest, Manifest)
    return manifest, data


def capsa_locations(tmp_path: Path) -> dict[str, str]:
    return {
        "oci": f"oci:{tmp_path / 'layout'}:v1",
        "oci-archive": f"oci-archive:{tmp_path / 'image.tar'}:v1",
        "docker-archive": f"docker-archive:{tmp_path / 'docker.tar'}:capsa/busybox:v1",
    }


@pytest.fixture
def written(tmp_path: Path, busybox_image: BuiltImage) -> dict[str, str]:
    """The busybox image written by capsa in each format."""
    locations = capsa_locations(tmp_path)
    for location in locations.values():
        capsa_copy(image_source(busybox_image), location)
    return locations


# capsa writes, skopeo reads


@needs_skopeo
@pytest.mark.parametrize("transport", ["oci", "oci-archive", "docker-archive"])
def test_skopeo_inspects_what_capsa_wrote(
    written: dict[str, str], busybox_image: BuiltImage, transport: str
) -> None:
    info = json.loads(skopeo("inspect", written[transport]))
    assert info["Architecture"] == "amd64" and info["Os"] == "linux"
    if transport == "docker-archive":
        # skopeo reads a docker-archive's layers uncompressed: it lists DiffIDs.
        assert info["Layers"] == [str(d) for d in busybox_image.diff_ids]
    else:
        assert info["Layers"] == [str(layer.digest) for layer in busybox_image.parsed.layers]
        assert info["Digest"] == str(busybox_image.digest)
    config = json.loads(skopeo("inspect", "--config", written[transport]))
    assert config["rootfs"]["diff_ids"] == [str(d) for d in busybox_image.diff_ids]


@needs_skopeo
@pytest.mark.parametrize("transport", ["oci", "oci-archive", "docker-archive"])
def test_skopeo_copies_what_capsa_wrote(
    tmp_path: Path, written: dict[str, str], busybox_image: BuiltImage, transport: str
) -> None:
    # skopeo verifies every digest as it copies. (It cannot turn the zstd layer of the
    # OCI ones into a docker-archive; capsa's docker-archive has it decompressed.)
    skopeo("copy", written[transport], f"oci-archive:{tmp_path / 'out.tar'}:copied")
    if transport == "docker-archive":
        skopeo("copy", written[transport], f"docker-archive:{tmp_path / 'd.tar'}:out/img:1")
    skopeo("copy", written[transport], f"oci:{tmp_path / 'out'}:copied")
    config = json.loads(skopeo("inspect", "--config", f"oci:{tmp_path / 'out'}:copied"))
    assert config["rootfs"]["diff_ids"] == [str(d) for d in busybox_image.diff_ids]
    if transport != "docker-archive":
        # skopeo keeps the config and compressed layers (and gzips the plain one).
        manifest, _ = read_manifest(f"oci:{tmp_path / 'out'}:copied")
        assert manifest.config.digest == busybox_image.parsed.config.digest
        layers = [layer.digest for layer in manifest.layers]
        assert layers[:2] == [layer.digest for layer in busybox_image.parsed.layers[:2]]


# skopeo writes (from capsa's layout), capsa reads


@needs_skopeo
def test_capsa_reads_what_skopeo_wrote(tmp_path: Path, busybox_gzip_image: BuiltImage) -> None:
    busybox_image = busybox_gzip_image
    origin = f"oci:{tmp_path / 'capsa-layout'}:v1"
    capsa_copy(image_source(busybox_image), origin)
    skopeo("copy", origin, f"oci:{tmp_path / 'made-by-skopeo'}:v1")
    origin = f"oci:{tmp_path / 'made-by-skopeo'}:v1"
    theirs = {
        "oci": f"oci:{tmp_path / 'sk-layout'}:v1",
        "oci-archive": f"oci-archive:{tmp_path / 'sk-image.tar'}:v1",
        "docker-archive": f"docker-archive:{tmp_path / 'sk-docker.tar'}:sk/busybox:v1",
    }
    for location in theirs.values():
        skopeo("copy", origin, location)
    for transport in ("oci", "oci-archive"):
        manifest, data = read_manifest(theirs[transport])
        assert data == busybox_image.manifest  # byte for byte
        back = tmp_path / f"back-{transport}"
        assert capsa_copy(theirs[transport], f"oci:{back}:v1") == busybox_image.digest
        for digest, blob in busybox_image.blobs.items():
            assert (back / "blobs" / "sha256" / digest.encoded).read_bytes() == blob
    # skopeo writes docker-archive layers uncompressed: their digests are the DiffIDs,
    # and the config is the same bytes (the image ID is kept).
    manifest, _ = read_manifest(theirs["docker-archive"])
    assert [layer.digest for layer in manifest.layers] == busybox_image.diff_ids
    assert manifest.config.digest == busybox_image.parsed.config.digest
    back = tmp_path / "back-docker"
    capsa_copy(theirs["docker-archive"], f"oci:{back}:v1")
    manifest, _ = read_manifest(f"oci:{back}:v1")
    assert manifest.media_type == mt.OCI_MANIFEST
    assert [layer.digest for layer in manifest.layers] == busybox_image.diff_ids


# podman loads what capsa wrote


@pytest.fixture
def podman_storage() -> Iterator[list[str]]:
    # podman refuses a runroot path longer than 50 characters: not under tmp_path.
    base = Path(tempfile.mkdtemp(prefix="capsa-pm-", dir="/tmp"))
    storage = [
        "--root",
        str(base / "storage"),
        "--runroot",
        str(base / "run"),
        "--cgroup-manager",
        "cgroupfs",
    ]
    yield storage
    for cleanup in (["rm", "-af"], ["rmi", "-af"], ["system", "reset", "-f"]):
        subprocess.run([PODMAN or "podman", *storage, *cleanup], capture_output=True, check=False)
    shutil.rmtree(base, ignore_errors=True)


def podman(storage: list[str], *args: str) -> subprocess.CompletedProcess[str]:
    assert PODMAN is not None
    return subprocess.run(
        [PODMAN, *storage, *args], capture_output=True, text=True, timeout=180, check=False
    )


@needs_podman
@pytest.mark.parametrize(
    ("transport", "name"),
    [
        ("docker-archive", "docker.io/capsa/busybox:v1"),
        ("oci-archive", "localhost/capsa/busybox:oci"),
    ],
)
def test_podman_loads_what_capsa_wrote(
    tmp_path: Path,
    busybox_image: BuiltImage,
    podman_storage: list[str],
    transport: str,
    name: str,
) -> None:
    archive = tmp_path / f"{uuid.uuid4().hex}.tar"
    ref = name.removeprefix("docker.io/") if transport == "docker-archive" else name
    capsa_copy(image_source(busybox_image), f"{transport}:{archive}:{ref}")
    loaded = podman(podman_storage, "load", "-i", str(archive))
    assert loaded.returncode == 0, loaded.stderr
    inspected = podman(podman_storage, "image", "inspect", name)
    assert inspected.returncode == 0, inspected.stderr + loaded.stdout
    (info,) = json.loads(inspected.stdout)
    assert info["Id"] == busybox_image.parsed.config.digest.encoded  # the image ID
    assert info["RootFS"]["Layers"] == [str(d) for d in busybox_image.diff_ids]
    if RUNC is None:
        return
    ran = podman(
        podman_storage,
        "--runtime",
        RUNC,
        "run",
        "--rm",
        "--network",
        "none",
        # No CAP_SYS_RESOURCE here: keep podman's defaults under the hard limits.
        "--ulimit",
        "nofile=1024:1024",
        "--ulimit",
        "nproc=1024:1024",
        name,
    )
    assert ran.returncode == 0, ran.stderr
    assert ran.stdout == "hello from capsa\nzstd layer\n"


@needs_podman
def test_capsa_reads_what_podman_saved(
    tmp_path: Path,
    busybox_image: BuiltImage,
    busybox_gzip_image: BuiltImage,
    podman_storage: list[str],
) -> None:
    # Two images in one capsa archive; podman loads both and saves them back in each of
    # its formats (both images in one docker-archive with -m).
    archive = tmp_path / "capsa.tar"
    names = {
        "docker.io/capsa/one:v1": busybox_image,
        "docker.io/capsa/two:v2": busybox_gzip_image,
    }
    with writing(f"docker-archive:{archive}") as dst:
        for name, image in names.items():
            copy_image(image_source(image), dst, name=name)
    loaded = podman(podman_storage, "load", "-i", str(archive))
    assert loaded.returncode == 0, loaded.stderr
    assert sorted(loaded.stdout.splitlines()) == [f"Loaded image: {name}" for name in names]

    saved = tmp_path / "podman-multi.tar"
    result = podman(podman_storage, "save", "-m", "-o", str(saved), *names)
    assert result.returncode == 0, result.stderr
    for name, image in names.items():
        check_read_back(f"docker-archive:{saved}:{name}", image, tmp_path)
    for position in (0, 1):
        with reading(f"docker-archive:{saved}:@{position}") as src:
            assert isinstance(src, DockerArchiveSource)
            assert src.repo_tags[0] in names

    for fmt in ("docker-archive", "oci-archive"):
        saved = tmp_path / f"saved-{fmt}.tar"
        name = "docker.io/capsa/one:v1"
        result = podman(podman_storage, "save", "--format", fmt, "-o", str(saved), name)
        assert result.returncode == 0, result.stderr
        check_read_back(f"{fmt}:{saved}", busybox_image, tmp_path)


def check_read_back(location: str, image: BuiltImage, tmp_path: Path) -> None:
    """capsa copies `location` into a layout; the image config (its ID) and its layers'
    DiffIDs are the ones capsa made."""
    manifest, _ = read_manifest(location)
    back = tmp_path / f"back-{uuid.uuid4().hex}"
    capsa_copy(location, f"oci:{back}:v1")
    config = (back / "blobs" / "sha256" / manifest.config.digest.encoded).read_bytes()
    assert json.loads(config)["rootfs"]["diff_ids"] == [str(d) for d in image.diff_ids]
    if manifest.media_type == mt.DOCKER_MANIFEST:
        assert config == image.config  # podman's docker-archive keeps the config bytes
