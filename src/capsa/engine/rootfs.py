"""A container's root file system: a writable snapshot on its image's top layer,
prepared at create, mounted at `<container dir>/rootfs` while it runs (in the host's
mount namespace, where the runtime and `capsa cp` find it), removed with the container."""

from __future__ import annotations

import contextlib
import os

from capsa.errors import NotFound
from capsa.store.errors import InUse
from capsa.store.mount import mount_all, unmount_all
from capsa.store.store import Store


def snapshot_key(container_id: str) -> str:
    return f"container-{container_id}"


def prepare(store: Store, container_id: str, top_layer: str | None) -> None:
    if top_layer is not None and store.layer(top_layer) is None:
        raise NotFound(
            f"layer {top_layer} of the image is not in the store",
            hint="load or pull the image again",
        )
    store.snapshotter.prepare(
        snapshot_key(container_id), top_layer, labels={"capsa.container": container_id}
    )


def is_mounted(target: str) -> bool:
    try:
        with open("/proc/self/mountinfo") as f:
            return any(line.split()[4] == target for line in f)
    except OSError:
        return False


def mount(store: Store, container_id: str, target: str) -> None:
    """Mount the container's snapshot on target (once: a mounted one is left as it is)."""
    os.makedirs(target, mode=0o755, exist_ok=True)
    if is_mounted(target):
        return
    mount_all(store.snapshotter.mounts(snapshot_key(container_id)), target)


def unmount(target: str) -> None:
    if os.path.isdir(target):
        unmount_all(target, detach=True)


def remove(store: Store, container_id: str) -> None:
    with contextlib.suppress(NotFound, InUse):
        store.snapshotter.remove(snapshot_key(container_id))


def upper_dir(store: Store, container_id: str) -> str | None:
    """The directory holding what the container changed (overlay's upperdir; the whole
    tree for vfs)."""
    mounts = store.snapshotter.mounts(snapshot_key(container_id))
    for item in mounts:
        upper = item.option("upperdir")
        if upper:
            return upper
        if item.type == "bind":
            return item.source
    return None
