"""Fixtures shared by every test tier."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

BUSYBOX = shutil.which("busybox") or "/bin/busybox"


def make_busybox_rootfs(target: Path) -> Path:
    """A minimal root filesystem: Debian's static busybox and a link for each applet."""
    if not os.path.exists(BUSYBOX):
        pytest.skip("busybox-static is not installed (apt-get install busybox-static)")
    for directory in ("bin", "sbin", "etc", "proc", "sys", "dev", "tmp", "root", "var", "run"):
        (target / directory).mkdir(parents=True, exist_ok=True)
    os.chmod(target / "tmp", 0o1777)
    shutil.copy2(BUSYBOX, target / "bin" / "busybox")
    applets = os.popen(f"{BUSYBOX} --list").read().split()
    for applet in applets:
        link = target / "bin" / applet
        if not link.exists():
            link.symlink_to("busybox")
    (target / "etc" / "passwd").write_text(
        "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n"
    )
    (target / "etc" / "group").write_text("root:x:0:\nnogroup:x:65534:\n")
    return target


@pytest.fixture
def busybox_rootfs(tmp_path: Path) -> Iterator[Path]:
    yield make_busybox_rootfs(tmp_path / "rootfs")
