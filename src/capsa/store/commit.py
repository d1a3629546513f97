"""An active snapshot becomes a layer: its change is written once as a layer blob and the
snapshot itself is committed as that layer (no second unpack). `capsa build` and `capsa
commit` make their layers this way.

On overlay the snapshot's upper directory is the change; on vfs the snapshot is compared
with its parent's tree. Layer blobs are plain tars (application/vnd.oci.image.layer.v1.tar):
locally there is nothing to gain from compressing, and the diff ID is the blob's digest.
"""

from __future__ import annotations

import contextlib
import secrets
from collections.abc import Callable
from typing import TYPE_CHECKING

from capsa.errors import AlreadyExists, NotFound
from capsa.oci import media_types as mt
from capsa.store.diff import DiffResult, diff_dirs, diff_overlay
from capsa.store.errors import InUse
from capsa.store.layerformat import Style
from capsa.store.layers import chain_id

if TYPE_CHECKING:
    from capsa.store.metadata import LayerRecord
    from capsa.store.store import Lease, Store


def commit_snapshot(
    store: Store,
    key: str,
    parent: str | None,
    *,
    lease: Lease,
    mtime: int | None = None,
    skip_empty: bool = False,
) -> tuple[LayerRecord | None, DiffResult]:
    """Commit active snapshot `key` (made on layer `parent`) as a layer, its blob written
    under `lease`. `mtime` (SOURCE_DATE_EPOCH) caps every time in the blob. When the same
    layer exists already, it is used and `key` is removed. With `skip_empty`, a snapshot
    that changed nothing makes no layer: it is removed and None comes back. On failure
    `key` stays as it was, for the caller to remove."""
    target = store.snapshotter.apply_target(key)
    ref = f"{lease.id}-commit-{secrets.token_hex(8)}"
    lease.add_ingest(ref)
    with store.content.writer(ref) as writer:
        if target.style is Style.OVERLAY:
            result = diff_overlay(
                target.path, writer.write, mtime=mtime, clamp_mtime=mtime is not None
            )
        else:
            result = _diff_against_parent(store, target.path, parent, writer.write, mtime)
        lease.add_blob(result.digest)
        writer.commit(result.digest, size=result.size)
    if skip_empty and result.entries == 0:
        with contextlib.suppress(NotFound, InUse):
            store.snapshotter.remove(key)
        return None, result
    chain = chain_id(parent, result.diff_id)
    lease.add_layer(chain)
    existing = store.layer(chain)
    if existing is None:
        try:
            store.snapshotter.commit(chain, key, labels={"capsa.layer": str(result.diff_id)})
        except AlreadyExists:
            existing = store.layer(chain)  # another process made it meanwhile
    if existing is not None:
        with contextlib.suppress(NotFound, InUse):
            store.snapshotter.remove(key)
    record = store.metadata.put_layer(chain, str(result.diff_id), parent, result.size)
    store.metadata.add_layer_blob(record.diff_id, str(result.digest), result.size, mt.OCI_LAYER)
    return record, result


def _diff_against_parent(
    store: Store,
    tree: str,
    parent: str | None,
    emit: Callable[[bytes], object],
    mtime: int | None,
) -> DiffResult:
    if parent is None:
        return diff_dirs(None, tree, emit, mtime=mtime, clamp_mtime=mtime is not None)
    view = f"commit-view-{secrets.token_hex(8)}"
    mounts = store.snapshotter.view(view, parent)
    try:
        lower = mounts[0].source
        return diff_dirs(lower, tree, emit, mtime=mtime, clamp_mtime=mtime is not None)
    finally:
        with contextlib.suppress(NotFound, InUse):
            store.snapshotter.remove(view)
