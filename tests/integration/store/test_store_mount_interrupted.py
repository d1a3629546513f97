"""mount_all interrupted right after a mount(2), before it counted it (Ctrl-C, a killed
caller of a build): it must still undo that mount."""

from __future__ import annotations

from pathlib import Path

import pytest
from store_kernel import mounts_under

from capsa.store import mount as store_mount
from capsa.store.snapshots.base import Mount


def test_an_interrupt_after_a_mount_leaves_no_mount(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / "rootfs"
    target.mkdir()
    real = store_mount._mount
    calls = []

    def mount_then_interrupted(item: Mount, where: str) -> None:
        real(item, where)
        calls.append(where)
        if len(calls) == 2:
            raise KeyboardInterrupt  # as a signal handler would, before mount_all counts

    monkeypatch.setattr(store_mount, "_mount", mount_then_interrupted)
    layers = [Mount("tmpfs", "tmpfs", ("size=1m",)), Mount("tmpfs", "tmpfs", ("size=2m",))]
    with pytest.raises(KeyboardInterrupt):
        store_mount.mount_all(layers, str(target))
    assert len(calls) == 2
    assert mounts_under(target) == []
