"""`capsa` image commands end to end, as a user types them, on a temporary root."""

from __future__ import annotations

import io
import json
import os
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

CAPSA = str(Path(sys.executable).with_name("capsa"))
BUSYBOX = "localhost/busybox:latest"


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
    if not any(os.path.exists(p) for p in ("/bin/busybox", "/usr/bin/busybox")):
        pytest.skip("busybox-static is not installed")
    return tmp_path / "root"


def inspect(root: Path, image: str) -> dict[str, object]:
    documents = json.loads(capsa(root, "image", "inspect", image).stdout)
    assert isinstance(documents, list) and len(documents) == 1
    document = documents[0]
    assert isinstance(document, dict)
    return document


def test_default_image_save_rmi_load_inspect(root: Path, tmp_path: Path) -> None:
    assert capsa(root, "image", "default").stdout == f"Loaded image: {BUSYBOX}\n"
    listing = capsa(root, "images").stdout.splitlines()
    assert listing[0].split() == ["REPOSITORY", "TAG", "IMAGE", "ID", "CREATED", "SIZE"]
    assert listing[1].split()[:2] == ["localhost/busybox", "latest"]
    before = inspect(root, "localhost/busybox")
    assert before["RepoTags"] == [BUSYBOX]
    assert before["Os"] == "linux"
    assert before["Config"] == {
        "Env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],
        "Cmd": ["sh"],
    }
    image_id = str(before["Id"])
    assert capsa(root, "images", "-q").stdout == image_id.removeprefix("sha256:")[:12] + "\n"

    archive = tmp_path / "busybox.tar"
    capsa(root, "save", "-o", str(archive), "localhost/busybox")
    with tarfile.open(archive) as tar:
        manifest = json.load(tar.extractfile("manifest.json"))  # type: ignore[arg-type]
    assert manifest[0]["RepoTags"] == [BUSYBOX]

    removed = capsa(root, "rmi", "localhost/busybox").stdout
    assert removed == f"Untagged: {BUSYBOX}\nDeleted: {image_id}\n"
    assert capsa(root, "images", "-q").stdout == ""
    capsa(root, "image", "inspect", "localhost/busybox", code=125)

    assert capsa(root, "load", "-i", str(archive)).stdout == f"Loaded image: {BUSYBOX}\n"
    after = inspect(root, "localhost/busybox")
    # The manifest is Docker's now (a docker-archive): everything else is the same.
    for document in (before, after):
        document.pop("RepoDigests")
        document.pop("Metadata")
    assert after == before


def test_default_image_is_reproducible(root: Path, tmp_path: Path) -> None:
    capsa(root, "image", "default")
    other = tmp_path / "other"
    capsa(other, "load", "--busybox")
    assert inspect(root, BUSYBOX)["Id"] == inspect(other, BUSYBOX)["Id"]


def test_oci_archive_round_trip_and_stdin_load(root: Path, tmp_path: Path) -> None:
    capsa(root, "image", "default")
    capsa(root, "tag", BUSYBOX, "example.com/tools/bb:1")
    archive = tmp_path / "bb.tar"
    capsa(root, "save", "--format", "oci-archive", "-o", str(archive), "example.com/tools/bb:1")
    other = tmp_path / "other"
    done = capsa(other, "load", stdin=archive.read_bytes())
    assert done.stdout == "Loaded image: example.com/tools/bb:1\n"
    assert inspect(other, "example.com/tools/bb:1")["Id"] == inspect(root, BUSYBOX)["Id"]


def test_tags_and_rmi_of_one_name(root: Path) -> None:
    capsa(root, "image", "default")
    capsa(root, "tag", "localhost/busybox", "mine:v1")
    rows = [line.split()[:2] for line in capsa(root, "image", "ls").stdout.splitlines()[1:]]
    assert sorted(rows) == [["localhost/busybox", "latest"], ["mine", "v1"]]
    image_id = str(inspect(root, "mine:v1")["Id"])
    refused = capsa(root, "rmi", image_id[7:19], code=1)
    assert "referenced in multiple repositories" in refused.stderr
    assert capsa(root, "rmi", "mine:v1").stdout == "Untagged: mine:v1\n"
    assert inspect(root, BUSYBOX)["RepoTags"] == [BUSYBOX]
    listing = json.loads(capsa(root, "images", "--format", "json").stdout)
    assert listing["Repository"] == "localhost/busybox"
    assert listing["ID"] == image_id[7:19]


def _rootfs_tar() -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        info = tarfile.TarInfo("etc")
        info.type = tarfile.DIRTYPE
        info.mode = 0o755
        tar.addfile(info)
        data = b"hello\n"
        info = tarfile.TarInfo("etc/motd")
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def test_import_of_a_tarball(root: Path, tmp_path: Path) -> None:
    tarball = tmp_path / "rootfs.tar.gz"
    tarball.write_bytes(_rootfs_tar())
    done = capsa(
        root, "import", "-c", 'CMD ["/bin/sh"]', "-c", "ENV A=1", str(tarball), "imported:1"
    )
    image_id = done.stdout.strip()
    assert image_id.startswith("sha256:")
    document = inspect(root, "imported:1")
    assert document["Id"] == image_id
    assert document["RepoTags"] == ["imported:1"]
    config = document["Config"]
    assert isinstance(config, dict)
    assert config["Cmd"] == ["/bin/sh"]
    assert "A=1" in config["Env"]
    history = capsa(root, "history", "imported:1").stdout.splitlines()
    assert history[0].split()[:2] == ["IMAGE", "CREATED"]
    assert "capsa import rootfs.tar.gz" in history[1]
    from_stdin = capsa(root, "import", "-", stdin=_rootfs_tar()).stdout.strip()
    assert from_stdin.startswith("sha256:")


def test_errors_are_one_line_and_leave_nothing(root: Path, tmp_path: Path) -> None:
    assert "no such image: nope" in capsa(root, "image", "inspect", "nope", code=125).stderr
    assert "must be lowercase" in capsa(root, "tag", "nope", "Bad", code=125).stderr
    junk = tmp_path / "junk.tar"
    junk.write_bytes(b"not a tar at all" * 100)
    assert "cannot read" in capsa(root, "load", "-i", str(junk), code=125).stderr
    capsa(root, "load", "-i", str(tmp_path / "missing.tar"), code=125)
    out = tmp_path / "out.tar"
    capsa(root, "save", "-o", str(out), "nope", code=125)
    assert not out.exists()
    capsa(root, "import", str(junk), "bad:1", code=125)
    assert capsa(root, "images", "-q").stdout == ""


@pytest.mark.skipif(shutil.which("skopeo") is None, reason="skopeo is not installed")
def test_skopeo_reads_what_capsa_saves(root: Path, tmp_path: Path) -> None:
    capsa(root, "image", "default")
    archive = tmp_path / "bb.tar"
    capsa(root, "save", "-o", str(archive), BUSYBOX)
    document = inspect(root, BUSYBOX)
    done = subprocess.run(
        ["skopeo", "inspect", f"docker-archive:{archive}"],
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    seen = json.loads(done.stdout)
    rootfs = document["RootFS"]
    assert isinstance(rootfs, dict)
    assert seen["Layers"] == rootfs["Layers"]
    assert seen["Architecture"] == document["Architecture"]
    assert seen["Env"] == ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"]
    oci = tmp_path / "bb-oci.tar"
    capsa(root, "save", "--format", "oci-archive", "-o", str(oci), BUSYBOX)
    subprocess.run(
        ["skopeo", "inspect", f"oci-archive:{oci}"], capture_output=True, check=True, timeout=120
    )
