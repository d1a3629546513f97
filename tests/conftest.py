"""Fixtures shared by every test tier."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from capsa.errors import NotFound
from capsa.runtime.busybox_bundle import make_rootfs


def make_busybox_rootfs(target: Path) -> Path:
    """A minimal root filesystem: Debian's static busybox and a link for each applet."""
    try:
        make_rootfs(str(target))
    except NotFound:
        pytest.skip("busybox-static is not installed (apt-get install busybox-static)")
    return target


@pytest.fixture
def busybox_rootfs(tmp_path: Path) -> Iterator[Path]:
    yield make_busybox_rootfs(tmp_path / "rootfs")


@pytest.fixture
def public_tmp() -> Iterator[Path]:
    """A temporary directory every user can traverse: a container whose root is mapped
    to another host uid (user namespaces) must reach its rootfs."""
    import shutil
    import tempfile

    path = Path(tempfile.mkdtemp(prefix="capsa-test-", dir="/tmp"))
    path.chmod(0o755)
    yield path
    shutil.rmtree(path, ignore_errors=True)


# The parent cgroups containers are made under (the engine's and the runtime's default):
# made on first use and shared, so no single test removes them; the session does, when
# it made them and they are empty again.
PARENT_CGROUPS = ("capsa", "capsa-runtime")


@pytest.fixture(scope="session", autouse=True)
def remove_parent_cgroups_made() -> Iterator[None]:
    from capsa.cgroups.manager import remove_if_empty, top_level_dirs

    before = top_level_dirs(PARENT_CGROUPS)
    yield
    if os.geteuid() != 0:
        return
    remove_if_empty(top_level_dirs(PARENT_CGROUPS) - before)
