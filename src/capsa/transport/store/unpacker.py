"""Unpacking an image's layers while the rest of it still downloads: a thread that takes
the layers in order and unpacks each one as soon as its blob is in the content store (the
layers below it being done already). StoreDestination.put_manifest() then finds the
layers made and only records them; an error here is raised there. Stopping (a failed
copy) lets the layer being unpacked finish or fail cleanly (the store leaves nothing of a
failed unpack) and unpacks no other."""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Sequence

    from capsa.oci.descriptor import Descriptor
    from capsa.oci.digest import Digest
    from capsa.store.store import Lease, Store


class LayerUnpacker:
    def __init__(
        self,
        store: Store,
        lease: Lease,
        layers: Sequence[Descriptor],
        diff_ids: Sequence[Digest],
    ) -> None:
        self._store = store
        self._lease = lease
        self._layers = list(layers)
        self._diff_ids = list(diff_ids)
        self._ready: set[str] = set()
        self._condition = threading.Condition()
        self._stopped = False
        self.error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="capsa-unpack", daemon=True)
        self._thread.start()

    def blob_ready(self, digest: Digest) -> None:
        with self._condition:
            self._ready.add(str(digest))
            self._condition.notify_all()

    def _wait_for(self, digest: Digest) -> bool:
        with self._condition:
            while str(digest) not in self._ready and not self._stopped:
                self._condition.wait()
            return not self._stopped

    def _run(self) -> None:
        parent: str | None = None
        try:
            for layer, diff_id in zip(self._layers, self._diff_ids, strict=True):
                if not self._wait_for(layer.digest):
                    return
                record = self._store.unpack(
                    layer.digest,
                    lease=self._lease,
                    parent=parent,
                    diff_id=diff_id,
                    media_type=layer.media_type,
                )
                parent = record.chain_id
        except BaseException as exc:  # handed to put_manifest() to raise
            self.error = exc

    def stop(self) -> None:
        with self._condition:
            self._stopped = True
            self._condition.notify_all()
        self._thread.join()

    def finish(self) -> None:
        """Wait until every layer is unpacked (all blobs are in by now)."""
        self._thread.join()
