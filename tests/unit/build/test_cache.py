"""The layer cache: keys, entries kept in SQLite, and the `build-cache` lease that keeps
cached layers and blobs from garbage collection until their entries are dropped."""

from __future__ import annotations

import gzip
import io
import os
import sqlite3
import tarfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from capsa.build.cache import LEASE, BuildCache, CachedLayer, step_key
from capsa.store.metadata import ResourceKind
from capsa.store.store import Store


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    with Store(tmp_path / "store", driver="vfs") as opened:
        yield opened


@pytest.fixture
def cache(store: Store) -> Iterator[BuildCache]:
    opened = BuildCache(store)
    yield opened
    opened.close()


def layer_tar(name: str, data: bytes) -> bytes:
    """A one-file layer, owned by whoever runs the tests (no root needed to unpack)."""
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w") as tar:
        info = tarfile.TarInfo(name)
        info.size = len(data)
        info.uid, info.gid = os.getuid(), os.getgid()
        info.mode = 0o644
        tar.addfile(info, io.BytesIO(data))
    return out.getvalue()


def make_layer(store: Store, name: str = "file", data: bytes = b"data") -> CachedLayer:
    """A layer and its blob in the store, held only by a lease released on return."""
    blob = gzip.compress(layer_tar(name, data), mtime=0)
    with store.lease() as lease:
        info = store.write_blob([blob], lease=lease)
        record = store.unpack(info.digest, lease=lease)
    return CachedLayer(
        key=step_key("test", name, data.decode()),
        chain=record.chain_id,
        diff_id=record.diff_id,
        digest=str(info.digest),
        size=len(blob),
        created="2024-01-01T00:00:00Z",
        last_used=time.time(),
    )


def empty_entry(key: str = "k") -> CachedLayer:
    return CachedLayer(key, "", "", "", 0, "2024-01-01T00:00:00Z", time.time())


# -- step_key -----------------------------------------------------------------------------


def test_step_key_is_a_stable_sha256() -> None:
    key = step_key("parent", "RUN", ["a", 1])
    assert key == step_key("parent", "RUN", ["a", 1])
    assert len(key) == 64 and int(key, 16) >= 0


def test_step_key_depends_on_every_part_and_their_order() -> None:
    base = step_key("p", "COPY", "a", "b")
    assert base != step_key("p", "COPY", "b", "a")
    assert base != step_key("p", "COPY", "a", "c")
    assert base != step_key("q", "COPY", "a", "b")


def test_step_key_does_not_confuse_different_groupings() -> None:
    assert step_key("ab") != step_key("a", "b")
    assert step_key(["a", "b"]) != step_key("a", "b")
    assert step_key("a b") != step_key("a", "b")
    assert step_key(None) != step_key("null") != step_key("")


def test_step_key_ignores_mapping_order() -> None:
    assert step_key({"a": 1, "b": 2}) == step_key({"b": 2, "a": 1})


# -- entries --------------------------------------------------------------------------------


def test_a_missing_key_is_a_miss(cache: BuildCache) -> None:
    assert cache.get("nope") is None
    assert cache.entries() == []


def test_an_empty_step_is_cached_without_a_layer_or_lease(
    store: Store, cache: BuildCache
) -> None:
    cache.put(empty_entry("k"), "ENV A=1")
    hit = cache.get("k")
    assert hit is not None and hit.empty
    assert LEASE not in [lease.id for lease in store.metadata.leases()]


def test_a_layer_entry_is_found_again(store: Store, cache: BuildCache) -> None:
    entry = make_layer(store)
    cache.put(entry, "RUN make")
    assert cache.get(entry.key) == entry
    assert cache.entries() == [(entry, "RUN make")]


def test_entries_survive_reopening(store: Store, cache: BuildCache) -> None:
    entry = make_layer(store)
    cache.put(entry, "COPY . /app")
    cache.close()
    again = BuildCache(store)
    try:
        assert again.get(entry.key) == entry
    finally:
        again.close()


def test_put_replaces_an_entry_of_the_same_key(store: Store, cache: BuildCache) -> None:
    cache.put(empty_entry("k"), "first")
    cache.put(empty_entry("k"), "second")
    assert [description for _, description in cache.entries()] == ["second"]


def test_the_lease_keeps_cached_layers_from_garbage_collection(
    store: Store, cache: BuildCache
) -> None:
    entry = make_layer(store)
    cache.put(entry, "RUN make")
    resources = store.metadata.lease_resources(LEASE)
    assert (ResourceKind.LAYER, entry.chain) in resources
    assert (ResourceKind.BLOB, entry.digest) in resources
    store.gc(grace=0)
    assert store.layer(entry.chain) is not None
    assert store.content.exists(entry.digest)
    assert cache.get(entry.key) == entry


def test_an_uncached_layer_is_collected(store: Store) -> None:
    # the control for the test above: without the cache's lease the layer goes
    entry = make_layer(store)
    store.gc(grace=0)
    assert store.layer(entry.chain) is None


def test_removing_an_entry_lets_its_layer_be_collected(store: Store, cache: BuildCache) -> None:
    entry = make_layer(store)
    cache.put(entry, "RUN make")
    removed = cache.remove([entry.key])
    assert removed == [entry]
    assert store.metadata.lease_resources(LEASE) == []
    store.gc(grace=0)
    assert store.layer(entry.chain) is None
    assert cache.get(entry.key) is None


def test_a_layer_shared_by_two_entries_stays_until_both_go(
    store: Store, cache: BuildCache
) -> None:
    entry = make_layer(store)
    other = CachedLayer(
        "other", entry.chain, entry.diff_id, entry.digest, entry.size, entry.created, 0.0
    )
    cache.put(entry, "a")
    cache.put(other, "b")
    cache.remove([entry.key])
    store.gc(grace=0)
    assert cache.get("other") is not None
    cache.remove(["other"])
    store.gc(grace=0)
    assert store.layer(entry.chain) is None


def test_an_entry_whose_layer_is_gone_is_a_miss(store: Store, cache: BuildCache) -> None:
    entry = make_layer(store)
    cache.put(entry, "RUN make")
    store.metadata.remove_lease_resource(LEASE, ResourceKind.LAYER, entry.chain)
    store.metadata.remove_lease_resource(LEASE, ResourceKind.BLOB, entry.digest)
    store.gc(grace=0)
    assert cache.get(entry.key) is None


def test_entries_are_listed_least_recently_used_first(store: Store, cache: BuildCache) -> None:
    now = time.time()
    for key, used in (("new", now), ("old", now - 1000), ("mid", now - 500)):
        cache.put(CachedLayer(key, "", "", "", 0, "", used), key)
    assert [entry.key for entry, _ in cache.entries()] == ["old", "mid", "new"]


def test_a_hit_refreshes_an_old_last_used(store: Store, cache: BuildCache) -> None:
    entry = make_layer(store)
    stale = CachedLayer(
        entry.key, entry.chain, entry.diff_id, entry.digest, entry.size, entry.created, 1.0
    )
    cache.put(stale, "RUN make")
    cache.get(entry.key)
    [(listed, _)] = cache.entries()
    assert listed.last_used > time.time() - 60


def test_the_database_is_in_the_store_root(store: Store, cache: BuildCache) -> None:
    cache.put(empty_entry("k"), "x")
    db = sqlite3.connect(store.root / "build-cache.db")
    try:
        assert db.execute("SELECT key, description FROM entries").fetchall() == [("k", "x")]
    finally:
        db.close()
