"""Store integration tests: real mounts, device nodes, owners and xattrs (root).

The snapshotter suite and the tarball helpers live beside the unit tests; this puts
them on the import path. Every test is checked to leave no mount behind."""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "unit" / "store"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from store_kernel import mounts_under

from capsa.store.mount import unmount_all


@pytest.fixture(autouse=True)
def no_mounts_left(tmp_path: Path) -> Iterator[None]:
    yield
    leaked = mounts_under(tmp_path)
    for point in reversed(leaked):
        with contextlib.suppress(OSError):
            unmount_all(point, detach=True)
    assert leaked == [], f"mounts left behind: {leaked}"
