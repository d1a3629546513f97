"""An active snapshot becomes a layer. `commit_snapshot` (`capsa build`): its change is
written once as a layer blob and the snapshot itself is committed as that layer (no second
unpack). `layer_from_snapshot` (`capsa commit`): the snapshot stays what it is (a
container's root) and the layer is unpacked from the blob.

On overlay the snapshot's upper directory is the change; on vfs the snapshot is compared
with its parent's tree. Layer blobs are plain tars (application/vnd.oci.image.layer.v1.tar):
locally there is nothing to gain from compressing, and the diff ID is the blob's digest.
"""

from __future__ import annotations

import contextlib
import secrets
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, nullcontext
from typing import TYPE_CHECKING

from capsa.errors import AlreadyExists, NotFound
from capsa.oci import media_types as mt
from capsa.store.diff import DiffResult, Select, diff_dirs, diff_overlay
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
    result = _write_blob(store, key, parent, lease, mtime, None)
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


# given the parent's trees (top first), which entries go in: for as long as the `with`
SelectFor = Callable[[Sequence[str]], AbstractContextManager[Select]]


def layer_from_snapshot(
    store: Store,
    key: str,
    parent: str | None,
    *,
    lease: Lease,
    select_for: SelectFor | None = None,
) -> tuple[LayerRecord, DiffResult]:
    """The layer of what active snapshot `key` (made on layer `parent`) changed, its blob
    written and the layer made under `lease`; `key` itself is left as it is."""
    result = _write_blob(store, key, parent, lease, None, select_for)
    record = store.unpack(
        result.digest, lease=lease, parent=parent, diff_id=result.diff_id, media_type=mt.OCI_LAYER
    )
    return record, result


def _write_blob(
    store: Store,
    key: str,
    parent: str | None,
    lease: Lease,
    mtime: int | None,
    select_for: SelectFor | None,
) -> DiffResult:
    """Snapshot `key`'s change as a plain tar blob in the content store, under `lease`."""
    target = store.snapshotter.apply_target(key)
    ref = f"{lease.id}-commit-{secrets.token_hex(8)}"
    lease.add_ingest(ref)
    clamp = mtime is not None
    with store.content.writer(ref) as writer:
        if target.style is Style.OVERLAY:
            with _selecting(select_for, target.lowers) as select:
                result = diff_overlay(
                    target.path,
                    writer.write,
                    mtime=mtime,
                    clamp_mtime=clamp,
                    ops=store.ops,
                    select=select,
                )
        else:
            with (
                _parent_tree(store, parent) as lower,
                _selecting(select_for, [lower] if lower is not None else []) as select,
            ):
                result = diff_dirs(
                    lower,
                    target.path,
                    writer.write,
                    mtime=mtime,
                    clamp_mtime=clamp,
                    ops=store.ops,
                    select=select,
                )
        lease.add_blob(result.digest)
        writer.commit(result.digest, size=result.size)
    return result


def _selecting(
    select_for: SelectFor | None, lowers: Sequence[str]
) -> AbstractContextManager[Select | None]:
    return nullcontext(None) if select_for is None else select_for(lowers)


@contextlib.contextmanager
def _parent_tree(store: Store, parent: str | None) -> Iterator[str | None]:
    """Layer `parent`'s whole tree (a read-only view of it), None for no parent."""
    if parent is None:
        yield None
        return
    view = f"commit-view-{secrets.token_hex(8)}"
    mounts = store.snapshotter.view(view, parent)
    try:
        yield mounts[0].source
    finally:
        with contextlib.suppress(NotFound, InUse):
            store.snapshotter.remove(view)
