"""skopeo and podman (Debian's, nobody here wrote them) push to and pull from
`capsa registry serve`: plain http, then htpasswd users over TLS with a certificate the
test makes, then token auth. Root only (tests/interop/conftest.py)."""

from __future__ import annotations

import io
import json
import shutil
import subprocess
import sys
import tarfile
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from registry_servers import Server, make_certificate, make_htpasswd, running, start_capsa

sys.path.insert(0, str(Path(__file__).parents[2] / "unit" / "transport"))

from transport_images import BuiltImage, image_of_tars, image_source, layer_tar

from capsa.errors import NotFound
from capsa.oci.media_types import Compression
from capsa.runtime.busybox_bundle import make_rootfs
from capsa.transport.copy import copy_image
from capsa.transport.open import open_destination

SKOPEO = shutil.which("skopeo")
PODMAN = shutil.which("podman")
RUNC = shutil.which("runc")
pytestmark = pytest.mark.skipif(SKOPEO is None, reason="skopeo is not installed")


def _tar_directory(root: Path) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for path in sorted(root.rglob("*")):
            info = tar.gettarinfo(str(path), arcname=str(path.relative_to(root)))
            info.uid = info.gid = 0
            info.mtime = 0
            if info.isreg():
                with open(path, "rb") as file:
                    tar.addfile(info, file)
            else:
                tar.addfile(info)
    return buffer.getvalue()


@pytest.fixture(scope="module")
def image(tmp_path_factory: pytest.TempPathFactory) -> BuiltImage:
    rootfs = tmp_path_factory.mktemp("busybox") / "rootfs"
    try:
        make_rootfs(str(rootfs))
    except NotFound:
        pytest.skip("busybox-static is not installed")
    return image_of_tars(
        [
            (_tar_directory(rootfs), Compression.GZIP),
            (layer_tar({"srv/hello": b"hello from the registry\n"}), Compression.GZIP),
        ],
        cmd=["cat", "/srv/hello"],
    )


@pytest.fixture(scope="module")
def layout(image: BuiltImage, tmp_path_factory: pytest.TempPathFactory) -> str:
    """The image as an OCI layout directory, written locally by capsa."""
    location = f"oci:{tmp_path_factory.mktemp('layout') / 'layout'}:v1"
    destination = open_destination(location)
    copy_image(image_source(image), destination)
    destination.close()
    return location


def skopeo(*args: str) -> str:
    assert SKOPEO is not None
    result = subprocess.run(
        [SKOPEO, "--insecure-policy", *args],
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert result.returncode == 0, f"skopeo {' '.join(args)}: {result.stderr}"
    return result.stdout


def _check_pulled(location: str, image: BuiltImage) -> None:
    info = json.loads(skopeo("inspect", location))
    assert info["Digest"] == str(image.digest)
    assert info["Layers"] == [str(layer.digest) for layer in image.parsed.layers]


def test_skopeo_push_and_pull(tmp_path: Path, layout: str, image: BuiltImage) -> None:
    with running(start_capsa(tmp_path)) as server:
        remote = f"docker://{server.host}/interop/busybox:v1"
        skopeo("copy", "--dest-tls-verify=false", layout, remote)
        info = json.loads(skopeo("inspect", "--tls-verify=false", remote))
        assert info["Digest"] == str(image.digest)
        tags = json.loads(
            skopeo("list-tags", "--tls-verify=false", f"docker://{server.host}/interop/busybox")
        )
        assert tags["Tags"] == ["v1"]
        pulled = f"oci:{tmp_path / 'pulled'}:v1"
        skopeo("copy", "--src-tls-verify=false", remote, pulled)
        _check_pulled(pulled, image)
        # registry to registry: blobs are mounted or pushed again, the digest is kept
        other = f"docker://{server.host}/interop/copy:v2"
        skopeo("copy", "--src-tls-verify=false", "--dest-tls-verify=false", remote, other)
        assert json.loads(skopeo("inspect", "--tls-verify=false", other))["Digest"] == str(
            image.digest
        )
        skopeo("delete", "--tls-verify=false", other)
        gone = subprocess.run(
            [SKOPEO or "skopeo", "inspect", "--tls-verify=false", other],
            capture_output=True,
            check=False,
        )
        assert gone.returncode != 0


def test_skopeo_over_tls_with_htpasswd(tmp_path: Path, layout: str, image: BuiltImage) -> None:
    cert, key = make_certificate(tmp_path)
    certs = tmp_path / "certs.d"
    certs.mkdir()
    shutil.copy(cert, certs / "ca.crt")
    htpasswd = make_htpasswd(tmp_path / "htpasswd", {"carol": "secret-pw"})
    with running(start_capsa(tmp_path, "--htpasswd", str(htpasswd), tls=(cert, key))) as server:
        remote = f"docker://{server.host}/secure/busybox:v1"
        denied = subprocess.run(
            [
                SKOPEO or "skopeo",
                "--insecure-policy",
                "copy",
                "--dest-cert-dir",
                str(certs),
                layout,
                remote,
            ],
            capture_output=True,
            text=True,
            check=False,
        )
        assert denied.returncode != 0
        assert "authentication required" in denied.stderr or "unauthorized" in denied.stderr.lower()
        skopeo(
            "copy", "--dest-cert-dir", str(certs), "--dest-creds", "carol:secret-pw", layout, remote
        )
        pulled = f"oci:{tmp_path / 'pulled'}:v1"
        skopeo(
            "copy", "--src-cert-dir", str(certs), "--src-creds", "carol:secret-pw", remote, pulled
        )
        _check_pulled(pulled, image)


def test_skopeo_with_token_auth(tmp_path: Path, layout: str, image: BuiltImage) -> None:
    htpasswd = make_htpasswd(tmp_path / "htpasswd", {"dave": "token-pw"})
    with running(start_capsa(tmp_path, "--htpasswd", str(htpasswd), "--auth", "token")) as server:
        remote = f"docker://{server.host}/tokens/busybox:v1"
        creds = "dave:token-pw"
        skopeo("copy", "--dest-tls-verify=false", "--dest-creds", creds, layout, remote)
        pulled = f"oci:{tmp_path / 'pulled'}:v1"
        skopeo("copy", "--src-tls-verify=false", "--src-creds", creds, remote, pulled)
        _check_pulled(pulled, image)


@pytest.fixture
def podman_storage() -> Iterator[list[str]]:
    if PODMAN is None:
        pytest.skip("podman is not installed")
    # podman refuses a runroot path longer than 50 characters: not under tmp_path.
    base = Path(tempfile.mkdtemp(prefix="capsa-reg-", dir="/tmp"))
    storage = [
        "--root",
        str(base / "root"),
        "--runroot",
        str(base / "run"),
        "--cgroup-manager",
        "cgroupfs",
    ]
    yield storage
    for cleanup in (["rm", "-af"], ["rmi", "-af"], ["system", "reset", "-f"]):
        subprocess.run([PODMAN or "podman", *storage, *cleanup], capture_output=True, check=False)
    shutil.rmtree(base, ignore_errors=True)


def podman(storage: list[str], *args: str) -> str:
    assert PODMAN is not None
    result = subprocess.run(
        [PODMAN, *storage, *args], capture_output=True, text=True, timeout=180, check=False
    )
    assert result.returncode == 0, f"podman {' '.join(args)}: {result.stderr}"
    return result.stdout


def _podman_round_trip(
    server: Server, storage: list[str], layout: str, image: BuiltImage, flags: list[str]
) -> None:
    name = f"{server.host}/podman/busybox:v1"
    skopeo("copy", "--dest-tls-verify=false", *_skopeo_creds(flags), layout, f"docker://{name}")
    podman(storage, "pull", *flags, name)
    (info,) = json.loads(podman(storage, "image", "inspect", name))
    assert info["Digest"] == str(image.digest)
    pushed = f"{server.host}/podman/pushed-{uuid.uuid4().hex[:6]}:v2"
    podman(storage, "tag", name, pushed)
    podman(storage, "push", *flags, pushed)
    podman(storage, "rmi", pushed)
    podman(storage, "pull", *flags, pushed)
    if RUNC is not None:
        ran = podman(
            storage,
            "--runtime",
            RUNC,
            "run",
            "--rm",
            "--network",
            "none",
            "--ulimit",
            "nofile=1024:1024",
            "--ulimit",
            "nproc=1024:1024",
            pushed,
        )
        assert ran == "hello from the registry\n"


def _skopeo_creds(flags: list[str]) -> list[str]:
    for flag in flags:
        if flag.startswith("--creds="):
            return ["--dest-creds", flag.split("=", 1)[1]]
    return []


def test_podman_push_and_pull(
    tmp_path: Path, layout: str, image: BuiltImage, podman_storage: list[str]
) -> None:
    with running(start_capsa(tmp_path)) as server:
        _podman_round_trip(server, podman_storage, layout, image, ["--tls-verify=false"])


def test_podman_over_tls_with_htpasswd(
    tmp_path: Path, layout: str, image: BuiltImage, podman_storage: list[str]
) -> None:
    cert, key = make_certificate(tmp_path)
    certs = tmp_path / "certs.d"
    certs.mkdir()
    shutil.copy(cert, certs / "ca.crt")
    htpasswd = make_htpasswd(tmp_path / "htpasswd", {"erin": "podman-pw"})
    with running(start_capsa(tmp_path, "--htpasswd", str(htpasswd), tls=(cert, key))) as server:
        flags = [f"--cert-dir={certs}", "--creds=erin:podman-pw"]
        name = f"{server.host}/podman/busybox:v1"
        skopeo(
            "copy",
            "--dest-cert-dir",
            str(certs),
            "--dest-creds",
            "erin:podman-pw",
            layout,
            f"docker://{name}",
        )
        podman(podman_storage, "pull", *flags, name)
        pushed = f"{server.host}/podman/pushed:v2"
        podman(podman_storage, "tag", name, pushed)
        podman(podman_storage, "push", *flags, pushed)
        podman(podman_storage, "rmi", pushed)
        podman(podman_storage, "pull", *flags, pushed)
        (info,) = json.loads(podman(podman_storage, "image", "inspect", pushed))
        assert info["RootFS"]["Layers"] == [str(d) for d in image.diff_ids]
