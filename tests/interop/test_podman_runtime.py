"""An external client: podman drives capsa-runtime through runc's command line."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tarfile
import uuid
from collections.abc import Iterator

import pytest

from capsa.runtime.busybox_bundle import make_rootfs

CAPSA = os.path.join(os.path.dirname(sys.executable), "capsa-runtime")
PODMAN = shutil.which("podman")

pytestmark = pytest.mark.skipif(PODMAN is None, reason="podman is not installed")

# This machine: no CAP_SYS_RESOURCE and a hard nofile of 20000, which podman 4.3's default
# of 1048576 exceeds; and hybrid cgroups, where only the cgroupfs manager works.
PODMAN_FLAGS = ["--cgroup-manager", "cgroupfs"]
RUN_FLAGS = ["--ulimit", "nofile=1024:1024", "--ulimit", "nproc=1024:1024"]


@pytest.fixture(scope="module")
def podman_image(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[list[str], str]]:
    base = tmp_path_factory.mktemp("podman")
    storage = ["--root", str(base / "storage"), "--runroot", str(base / "run"), *PODMAN_FLAGS]
    rootfs = base / "rootfs"
    make_rootfs(str(rootfs))
    archive = base / "rootfs.tar"
    with tarfile.open(archive, "w") as tar:
        tar.add(rootfs, arcname=".")
    image = f"localhost/capsa-busybox:{uuid.uuid4().hex[:8]}"
    assert PODMAN is not None
    subprocess.run(
        [PODMAN, *storage, "import", str(archive), image], check=True, capture_output=True
    )
    yield storage, image
    subprocess.run([PODMAN, *storage, "rm", "-af"], capture_output=True, check=False)
    subprocess.run([PODMAN, *storage, "rmi", "-af"], capture_output=True, check=False)
    subprocess.run([PODMAN, *storage, "system", "reset", "-f"], capture_output=True, check=False)


def podman(storage: list[str], *args: str) -> subprocess.CompletedProcess[str]:
    assert PODMAN is not None
    return subprocess.run(
        [PODMAN, *storage, "--runtime", CAPSA, *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_podman_run_rm(podman_image: tuple[list[str], str]) -> None:
    storage, image = podman_image
    result = podman(
        storage,
        "run",
        "--rm",
        *RUN_FLAGS,
        image,
        "sh",
        "-c",
        "echo hello; hostname; cat /proc/self/status | grep NoNewPrivs; exit 5",
    )
    assert result.returncode == 5, result.stderr
    assert result.stdout.splitlines()[0] == "hello"


def test_podman_detached_exec_stop(podman_image: tuple[list[str], str]) -> None:
    storage, image = podman_image
    name = f"c{uuid.uuid4().hex[:8]}"
    started = podman(storage, "run", "-d", "--name", name, *RUN_FLAGS, image, "sleep", "300")
    assert started.returncode == 0, started.stderr
    try:
        result = podman(storage, "exec", name, "sh", "-c", "echo in; cat /proc/1/cmdline")
        assert result.returncode == 0, result.stderr
        assert result.stdout.startswith("in\nsleep")
        stopped = podman(storage, "stop", "-t", "1", name)
        assert stopped.returncode == 0, stopped.stderr
        inspect = podman(storage, "inspect", "--format", "{{.State.Status}}", name)
        assert inspect.stdout.strip() in ("exited", "stopped")
    finally:
        podman(storage, "rm", "-f", name)


def test_podman_terminal(podman_image: tuple[list[str], str]) -> None:
    storage, image = podman_image
    result = podman(storage, "run", "--rm", "-t", *RUN_FLAGS, image, "sh", "-c", "tty")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().startswith("/dev/pts/")
