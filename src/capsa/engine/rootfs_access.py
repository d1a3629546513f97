"""A container's root file system to read or write from the host, running or not:
`mounted_root` mounts it on a private temporary target, under the container's lock, and
unmounts it after. For a running container that is a non-recursive bind of its live
root, so what the runtime mounted inside (proc, volumes, binds) is not part of it; for a
stopped one its snapshot (start waits for the lock, so no overlay is mounted twice)."""

from __future__ import annotations

import contextlib
import os
import secrets
from collections.abc import Iterator
from typing import TYPE_CHECKING

from capsa.engine import rootfs
from capsa.store.mount import mount_all
from capsa.store.snapshots.base import Mount

if TYPE_CHECKING:
    from capsa.engine.db import ContainerRecord
    from capsa.engine.engine import Engine


@contextlib.contextmanager
def mounted_root(engine: Engine, record: ContainerRecord) -> Iterator[str]:
    """The path of the container's root, for the length of the `with`."""
    with engine.lock(record.id):
        target = os.path.join(engine.layout.run_dir(record.id), f"root-{secrets.token_hex(4)}")
        live = engine.layout.rootfs(record.id)
        os.mkdir(target, 0o700)
        try:
            if rootfs.is_mounted(live):
                mount_all([Mount("bind", live, ("bind",))], target)
            else:
                rootfs.mount(engine.store, record.id, target)
            try:
                yield target
            finally:
                rootfs.unmount(target)
        finally:
            with contextlib.suppress(OSError):
                os.rmdir(target)
