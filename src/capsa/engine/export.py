"""`capsa export`: a container's whole file system as one tar stream (Docker's
`export`), without what is mounted into it."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from capsa.engine.rootfs_access import mounted_root
from capsa.store.diff import DiffResult, diff_dirs

if TYPE_CHECKING:
    from capsa.engine.engine import Engine


def export_container(engine: Engine, text: str, write: Callable[[bytes], object]) -> DiffResult:
    """Write the tar of container `text`'s root to `write`."""
    record = engine.find(text)
    with mounted_root(engine, record) as root:
        return diff_dirs(None, root, write)
