"""The shared snapshotter suite with every mount performed, on overlay and vfs, and what
only a real mount shows: long lowerdir chains, a busybox container, merged whiteouts."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest
from snapshot_suite import CHECKS, Env, commit_layer
from store_kernel import mounted

from capsa.store.mount import PAGE_SIZE
from capsa.store.snapshots import OverlaySnapshotter


@pytest.mark.parametrize("driver", ["overlay", "vfs"])
@pytest.mark.parametrize("check", CHECKS, ids=lambda check: check.__name__.removeprefix("check_"))
def test_snapshotter_with_mounts(driver: str, check: Callable[[Env], None], tmp_path: Path) -> None:
    check(Env(driver, tmp_path, None, mounter=mounted))


def test_overlay_chain_longer_than_a_page(tmp_path: Path) -> None:
    s = OverlaySnapshotter(tmp_path / "a-rather-long-directory-name-for-the-store" / "overlay")
    env = Env("overlay", tmp_path, None, mounted)
    parent = None
    for index in range(120):
        name = f"layer-{index}"
        commit_layer(env, s, name, parent, {f"files/{index}": str(index)})
        parent = name
    [mount] = s.prepare("container", parent)
    assert len(",".join(mount.options)) > PAGE_SIZE  # would fail as one mount(2) call
    with mounted([mount], tmp_path / "mnt") as root:
        assert len(os.listdir(root / "files")) == 120
        assert (root / "files/0").read_text() == "0"
        (root / "files/new").write_text("written")
    assert (Path(s.apply_target("container").path) / "files/new").read_text() == "written"
    s.close()
