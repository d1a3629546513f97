"""Images cross over through Debian's docker-registry: what skopeo pushes capsa pulls,
what capsa pushes skopeo copies out and podman runs."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
from docker_registry import Registry

from conftest import Capsa, needs_registry

sys.path.insert(0, str(Path(__file__).parents[2] / "unit" / "transport"))
from transport_images import image_source, simple_image

from capsa.transport.copy import copy_image
from capsa.transport.open import writing

SKOPEO = shutil.which("skopeo")
PODMAN = shutil.which("podman")
RUNC = shutil.which("runc")
pytestmark = [needs_registry, pytest.mark.skipif(SKOPEO is None, reason="skopeo is missing")]


def skopeo(*args: str) -> str:
    assert SKOPEO is not None
    result = subprocess.run(
        [SKOPEO, "--insecure-policy", *args],
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_capsa_pulls_what_skopeo_pushed(capsa: Capsa, registry: Registry, tmp_path: Path) -> None:
    image = simple_image()
    layout = tmp_path / "layout"
    with writing(f"oci:{layout}:v1") as destination:
        copy_image(image_source(image), destination)
    name = f"{registry.host}/skopeo/app:v1"
    skopeo("copy", "--dest-tls-verify=false", f"oci:{layout}:v1", f"docker://{name}")
    capsa.run("pull", "-q", name)
    info = json.loads(capsa.run("image", "inspect", name).stdout)[0]
    assert info["Id"] == str(image.parsed.config.digest)
    assert info["RootFS"]["Layers"] == [str(d) for d in image.diff_ids]


def test_skopeo_and_podman_read_what_capsa_pushed(
    capsa: Capsa, registry: Registry, tmp_path: Path
) -> None:
    name = f"{registry.host}/capsa/busybox:v1"
    pushed = capsa.run("push", "localhost/busybox:latest", name).stdout.splitlines()[-1]
    digest = pushed.split()[2]
    inspected = json.loads(skopeo("inspect", "--tls-verify=false", f"docker://{name}"))
    assert inspected["Digest"] == digest
    out = tmp_path / "out"
    skopeo("copy", "--src-tls-verify=false", f"docker://{name}", f"oci:{out}:v1")
    assert json.loads((out / "index.json").read_text())["manifests"]  # (skopeo gzips layers)
    config = json.loads(skopeo("inspect", "--config", "--tls-verify=false", f"docker://{name}"))
    ours = json.loads(capsa.run("image", "inspect", "localhost/busybox:latest").stdout)[0]
    assert config["rootfs"]["diff_ids"] == ours["RootFS"]["Layers"]
    if PODMAN is None or RUNC is None:
        return
    base = Path(tempfile.mkdtemp(prefix="capsa-pm-", dir="/tmp"))  # podman: runroot < 50 chars
    storage = [
        "--root",
        str(base / "root"),
        "--runroot",
        str(base / "run"),
        "--storage-driver",
        "vfs",
    ]
    try:
        ran = subprocess.run(
            [
                PODMAN,
                *storage,
                "--runtime",
                RUNC,
                "run",
                "--rm",
                "--tls-verify=false",
                "--network",
                "none",
                "--ulimit",
                "nofile=1024:1024",
                "--ulimit",
                "nproc=1024:1024",
                name,
                "echo",
                "hello from the registry",
            ],
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
        assert ran.returncode == 0, ran.stderr
        assert ran.stdout == "hello from the registry\n"
    finally:
        for cleanup in (["rm", "-af"], ["rmi", "-af"], ["system", "reset", "-f"]):
            subprocess.run([PODMAN, *storage, *cleanup], capture_output=True, check=False)
        shutil.rmtree(base, ignore_errors=True)
