"""The layer cache of `capsa build`: what a step made, found again by the step's key.

A key is the hash of everything the step's result depends on (its parent's key, the
instruction as expanded, the build state it runs with, the content of the files it
reads), so a hit is always safe to reuse. An entry names the layer the step made; every
cached layer and its blob are held by one lease of the store (`build-cache`), so image
garbage collection keeps them until `capsa builder prune` drops the entries.

Entries live in `<store root>/build-cache.db` (SQLite, WAL): many builds share it.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import sqlite3
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from capsa.errors import AlreadyExists
from capsa.sqlitedb import Database
from capsa.store.metadata import ResourceKind

if TYPE_CHECKING:
    from capsa.store.store import Store

LEASE = "build-cache"


def step_key(*parts: object) -> str:
    """The cache key of a step: a hash of its parts, in order (JSON, so that no two
    different sequences of parts give the same text)."""
    text = json.dumps(parts, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode()).hexdigest()


@dataclass(frozen=True)
class CachedLayer:
    key: str
    chain: str  # the layer's chain ID; "" when the step changed nothing (no layer)
    diff_id: str
    digest: str  # the layer blob
    size: int  # bytes of the blob
    created: str  # when the step first ran (RFC 3339), kept in the image's history
    last_used: float

    @property
    def empty(self) -> bool:
        return not self.chain


def _v1(db: sqlite3.Connection) -> None:
    db.execute(
        "CREATE TABLE entries (key TEXT PRIMARY KEY, chain TEXT NOT NULL, diff_id TEXT NOT "
        "NULL, digest TEXT NOT NULL, size INTEGER NOT NULL, created TEXT NOT NULL, "
        "last_used REAL NOT NULL, description TEXT NOT NULL)"
    )


class BuildCache:
    def __init__(self, store: Store) -> None:
        self.store = store
        self.db = Database(store.root / "build-cache.db", [_v1], what="build cache")

    def close(self) -> None:
        self.db.close()

    def get(self, key: str) -> CachedLayer | None:
        """The entry for `key` when its layer and blob are still in the store."""
        rows = self.db.read("SELECT * FROM entries WHERE key = ?", (key,))
        if not rows:
            return None
        entry = _entry(rows[0])
        if entry.empty:
            return entry
        if self.store.layer(entry.chain) is None or not self.store.content.exists(entry.digest):
            return None
        now = time.time()
        if now - entry.last_used > 60:  # coarse: a hit should not always write
            with self.db.transaction() as db:
                db.execute("UPDATE entries SET last_used = ? WHERE key = ?", (now, key))
        return entry

    def put(self, entry: CachedLayer, description: str) -> None:
        """Record an entry; its layer and blob join the cache's lease first, so that no
        garbage collection can take them between the build and the record."""
        metadata = self.store.metadata
        if not entry.empty:
            with contextlib.suppress(AlreadyExists):
                metadata.create_lease(LEASE, expires_in=None, labels={"capsa.operation": "build"})
            metadata.add_lease_resource(LEASE, ResourceKind.LAYER, entry.chain)
            metadata.add_lease_resource(LEASE, ResourceKind.BLOB, entry.digest)
        with self.db.transaction() as db:
            db.execute(
                "INSERT OR REPLACE INTO entries VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    entry.key,
                    entry.chain,
                    entry.diff_id,
                    entry.digest,
                    entry.size,
                    entry.created,
                    entry.last_used,
                    description,
                ),
            )

    def entries(self) -> list[tuple[CachedLayer, str]]:
        rows = self.db.read("SELECT * FROM entries ORDER BY last_used")
        return [(_entry(row), str(row["description"])) for row in rows]

    def remove(self, keys: Iterable[str]) -> list[CachedLayer]:
        """Drop entries; the layers and blobs no other entry holds leave the lease (the
        caller's garbage collection then frees what nothing else uses)."""
        wanted = set(keys)
        removed = [entry for entry, _ in self.entries() if entry.key in wanted]
        with self.db.transaction() as db:
            for entry in removed:
                db.execute("DELETE FROM entries WHERE key = ?", (entry.key,))
        kept = self.entries()
        chains = {entry.chain for entry, _ in kept}
        digests = {entry.digest for entry, _ in kept}
        metadata = self.store.metadata
        for entry in removed:
            if entry.chain not in chains:
                metadata.remove_lease_resource(LEASE, ResourceKind.LAYER, entry.chain)
            if entry.digest not in digests:
                metadata.remove_lease_resource(LEASE, ResourceKind.BLOB, entry.digest)
        return removed


def _entry(row: sqlite3.Row) -> CachedLayer:
    return CachedLayer(
        key=row["key"],
        chain=row["chain"],
        diff_id=row["diff_id"],
        digest=row["digest"],
        size=row["size"],
        created=row["created"],
        last_used=row["last_used"],
    )
