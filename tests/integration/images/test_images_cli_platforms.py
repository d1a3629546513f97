"""The image commands on multi-platform archives and layouts, filters, --format, prune
and system df, as a user types them, on a temporary root."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parents[2] / "unit" / "transport"))

from transport_images import multi_platform

from capsa.oci.platform import host_platform
from capsa.transport.copy import copy_image
from capsa.transport.open import open_destination

CAPSA = str(Path(sys.executable).with_name("capsa"))


def capsa(
    root: Path, *args: str, code: int = 0, stdin: bytes | None = None
) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "CAPSA_ROOT": str(root)}
    raw = subprocess.run(
        [CAPSA, *args], env=env, input=stdin, capture_output=True, check=False, timeout=300
    )
    done = subprocess.CompletedProcess(
        raw.args, raw.returncode, raw.stdout.decode(), raw.stderr.decode()
    )
    assert done.returncode == code, (args, done.stdout, done.stderr)
    return done


@pytest.fixture
def root(tmp_path: Path) -> Path:
    if host_platform().architecture not in ("amd64", "arm64", "arm"):
        pytest.skip("the test index has amd64, arm64 and arm images only")
    return tmp_path / "root"


def write_multi(path: Path, transport: str = "oci-archive") -> dict[str, object]:
    src, images = multi_platform()
    dst = open_destination(f"{transport}:{path}:example.com/multi:1")
    copy_image(src, dst, all_platforms=True)
    dst.close()
    return images  # type: ignore[return-value]


def inspect(root: Path, *args: str) -> dict[str, object]:
    documents = json.loads(capsa(root, "image", "inspect", *args).stdout)
    assert len(documents) == 1
    return documents[0]  # type: ignore[no-any-return]


def test_load_a_multi_platform_archive(root: Path, tmp_path: Path) -> None:
    archive = tmp_path / "multi.tar"
    write_multi(archive)
    done = capsa(root, "load", "-i", str(archive))
    assert done.stdout == "Loaded image: example.com/multi:1\n"
    assert done.stderr.count("Copying blob") == 6  # two layers a platform
    assert "\r" not in done.stderr  # no bar outside a terminal
    assert inspect(root, "example.com/multi:1")["Architecture"] == host_platform().architecture
    arm = inspect(root, "--platform", "linux/arm/v7", "example.com/multi:1")
    assert (arm["Architecture"], arm.get("Variant")) == ("arm", "v7")
    missing = capsa(
        root, "image", "inspect", "--platform", "linux/s390x", "example.com/multi:1", code=125
    )
    assert "has no image for linux/s390x" in missing.stderr
    assert "linux/amd64, linux/arm/v7, linux/arm64/v8" in missing.stderr
    listing = capsa(root, "images", "--format", "{{.Repository}}:{{.Tag}}").stdout
    assert listing == "example.com/multi:1\n"  # one row: the platforms are not dangling
    history = capsa(
        root, "history", "--platform", "linux/arm64", "--format", "{{.Size}}", "example.com/multi:1"
    ).stdout
    assert history.strip()

    # saved whole as an OCI archive, it loads elsewhere with every platform
    out = tmp_path / "again.tar"
    capsa(root, "save", "-q", "--format", "oci-archive", "-o", str(out), "example.com/multi:1")
    other = tmp_path / "other"
    capsa(other, "load", "-q", "-i", str(out))
    for platform in ("linux/amd64", "linux/arm64", "linux/arm/v7"):
        capsa(other, "image", "inspect", "--platform", platform, "example.com/multi:1")

    # a docker-archive holds one platform
    docker = tmp_path / "one.tar"
    capsa(root, "save", "-q", "--platform", "linux/arm64", "-o", str(docker), "example.com/multi:1")
    third = tmp_path / "third"
    capsa(third, "load", "-q", "-i", str(docker))
    assert inspect(third, "example.com/multi:1")["Architecture"] == "arm64"

    removed = capsa(root, "rmi", "example.com/multi:1").stdout.splitlines()
    assert removed[0] == "Untagged: example.com/multi:1"
    assert len([line for line in removed if line.startswith("Deleted: ")]) == 3
    assert capsa(root, "images", "-q").stdout == ""


def test_load_one_platform_and_a_layout_missing_one(root: Path, tmp_path: Path) -> None:
    layout = tmp_path / "layout"
    images = write_multi(layout, "oci")
    capsa(root, "load", "-q", "--platform", "linux/arm/v7", "-i", str(layout))
    assert inspect(root, "example.com/multi:1")["Architecture"] == "arm"
    capsa(root, "image", "inspect", "--platform", "linux/amd64", "example.com/multi:1", code=125)
    refused = capsa(root, "load", "--platform", "linux/mips64", "-i", str(layout), code=125)
    assert "no image for linux/mips64" in refused.stderr

    arm = images["linux/arm/v7"]
    for layer in arm.parsed.layers:  # type: ignore[attr-defined]
        (layout / "blobs" / "sha256" / layer.digest.encoded).unlink()
    other = tmp_path / "other"
    capsa(other, "load", "-q", "-i", str(layout))
    capsa(other, "image", "inspect", "--platform", "linux/arm64", "example.com/multi:1")
    gone = capsa(
        other, "image", "inspect", "--platform", "linux/arm/v7", "example.com/multi:1", code=125
    )
    assert "it has linux/amd64, linux/arm64/v8" in gone.stderr


def busybox(root: Path) -> str:
    if not any(os.path.exists(p) for p in ("/bin/busybox", "/usr/bin/busybox")):
        pytest.skip("busybox-static is not installed")
    capsa(root, "image", "default", "-q")
    return str(inspect(root, "localhost/busybox")["Id"])


def test_filters_and_formats(root: Path, tmp_path: Path) -> None:
    image_id = busybox(root)
    tarball = tmp_path / "rootfs.tar"
    subprocess.run(["tar", "-cf", str(tarball), "-C", str(tmp_path), "root"], check=True)
    capsa(root, "import", "-c", "LABEL team=a", str(tarball), "example.com/lab:1")
    capsa(root, "import", "-c", "LABEL team=b", str(tarball))  # dangling
    names = capsa(root, "images", "--format", "{{.Repository}}").stdout.splitlines()
    assert sorted(names) == ["<none>", "example.com/lab", "localhost/busybox"]

    def shown(*filters: str) -> list[str]:
        args = [arg for f in filters for arg in ("--filter", f)]
        out = capsa(root, "images", *args, "--format", "{{.Repository}}:{{.Tag}}").stdout
        return sorted(out.splitlines())

    assert shown("dangling=true") == ["<none>:<none>"]
    assert shown("dangling=false") == ["example.com/lab:1", "localhost/busybox:latest"]
    assert shown("label=team") == ["<none>:<none>", "example.com/lab:1"]
    assert shown("label=team=a") == ["example.com/lab:1"]
    assert shown("reference=localhost/*") == ["localhost/busybox:latest"]
    assert shown("reference=*/lab:1", "reference=nothing") == ["example.com/lab:1"]
    assert shown("reference=busybox") == []  # `*` and names are matched whole
    assert shown("since=localhost/busybox") == ["<none>:<none>", "example.com/lab:1"]
    assert shown("before=example.com/lab:1") == ["localhost/busybox:latest"]
    bad = capsa(root, "images", "--filter", "colour=red", code=125)
    assert "invalid filter 'colour'" in bad.stderr

    table = capsa(
        root,
        "images",
        "--format",
        "table {{.ID}}\\t{{.Repository}}",
        "--filter",
        "reference=localhost/*",
    ).stdout
    assert table == f"IMAGE ID       REPOSITORY\n{image_id[7:19]}   localhost/busybox\n"
    bad = capsa(root, "images", "--format", "{{.ID", code=125)
    assert bad.stderr.startswith("capsa images: invalid template '{{.ID'")
    assert bad.stderr.count("\n") == 1
    unknown = capsa(root, "images", "--format", "{{.Nope}}", code=125)
    assert "can't evaluate field Nope" in unknown.stderr
    labels = capsa(
        root, "image", "inspect", "-f", '{{index .Config.Labels "team"}}', "example.com/lab:1"
    ).stdout
    assert labels == "a\n"
    history = capsa(
        root, "history", "--format", "table {{.ID}}\t{{.CreatedBy}}", "localhost/busybox"
    ).stdout.splitlines()
    assert history[0].split() == ["IMAGE", "CREATED", "BY"]
    assert history[1].startswith(image_id[7:19])


def test_prune_and_disk_usage(root: Path, tmp_path: Path) -> None:
    busybox(root)
    tarball = tmp_path / "rootfs.tar"
    subprocess.run(["tar", "-cf", str(tarball), "-C", str(tmp_path), "root"], check=True)
    loose = capsa(root, "import", str(tarball)).stdout.strip()
    df = capsa(root, "system", "df").stdout.splitlines()
    assert df[0].split() == ["TYPE", "TOTAL", "ACTIVE", "SIZE", "RECLAIMABLE"]
    assert df[1].split()[:3] == ["Images", "2", "0"]
    assert df[1].endswith("(100%)")
    verbose = capsa(root, "system", "df", "-v").stdout
    assert verbose.startswith("Images space usage:\n\nREPOSITORY")
    assert "SHARED SIZE" in verbose and "UNIQUE SIZE" in verbose
    document = json.loads(capsa(root, "system", "df", "-v", "--format", "json").stdout)
    assert len(document["Images"]) == 2
    assert capsa(root, "system", "df", "--format", "{{.Type}} {{.TotalCount}}").stdout == (
        "Images 2\nContainers 0\nLocal Volumes 0\nBuild Cache 0\n"
    )

    declined = capsa(root, "image", "prune", stdin=b"n\n").stdout
    assert "WARNING! This will remove all dangling images." in declined
    assert len(capsa(root, "images", "-q").stdout.splitlines()) == 2
    pruned = capsa(root, "image", "prune", stdin=b"y\n").stdout
    assert f"Deleted Images:\ndeleted: {loose}\n\nTotal reclaimed space: " in pruned
    assert capsa(root, "image", "prune", "-f").stdout == "Total reclaimed space: 0B\n"
    everything = capsa(root, "image", "prune", "-a", "-f", "--filter", "until=1h").stdout
    assert "untagged: localhost/busybox:latest" in everything
    assert capsa(root, "images", "-q").stdout == ""
    blobs = [p for p in (root / "storage" / "blobs").rglob("*") if p.is_file()]
    assert blobs == []  # the store's GC ran: nothing of the images is left
    shutil.rmtree(root)
