"""What the build cache holds and frees: `system df`'s Build Cache row and `capsa builder
prune`. A cached layer that an image also uses is "active" (pruning it frees nothing)."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

from capsa.build.cache import BuildCache, CachedLayer

if TYPE_CHECKING:
    from capsa.store.store import Store


@dataclass(frozen=True)
class CacheUsage:
    entries: int
    active: int  # entries whose layer an image uses
    size: int
    reclaimable: int


def _image_layers(store: Store) -> set[str]:
    return {chain for image in store.metadata.images() for chain in image.layers}


def cache_usage(store: Store) -> CacheUsage:
    if not (store.root / "build-cache.db").exists():
        return CacheUsage(0, 0, 0, 0)
    cache = BuildCache(store)
    try:
        entries = [entry for entry, _ in cache.entries()]
    finally:
        cache.close()
    used = _image_layers(store)
    active = [e for e in entries if e.chain in used]
    size = sum(e.size for e in entries)
    return CacheUsage(len(entries), len(active), size, size - sum(e.size for e in active))


def prune_cache(store: Store, *, everything: bool, older_than: float | None = None) -> int:
    """Drop cache entries (those no image uses unless `everything`, and only those unused
    for `older_than` seconds when given), and collect what nothing holds any more;
    returns the bytes freed."""
    from capsa.store.images import collect

    if not (store.root / "build-cache.db").exists():
        return 0
    cache = BuildCache(store)
    try:
        used = set() if everything else _image_layers(store)
        now = time.time()

        def unwanted(entry: CachedLayer) -> bool:
            if entry.chain in used:
                return False
            return older_than is None or now - entry.last_used >= older_than

        cache.remove(e.key for e, _ in cache.entries() if unwanted(e))
    finally:
        cache.close()
    return collect(store)
