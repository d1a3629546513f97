"""What the overlay and vfs snapshotters share: one directory per snapshot and a SQLite
metastore of keys, kinds and parents.

    <root>/metadata.db          snapshots(id, key, kind, parent, labels, usage...)
    <root>/snapshots/<id>/fs    the snapshot's tree (plus work/ for overlay)
    <root>/snapshots/new-*      a snapshot being made (renamed to <id> when recorded)
    <root>/removed/*            snapshots being deleted

Ids are short integers (AUTOINCREMENT, never reused) so that overlay's lowerdir option
stays short. A snapshot is recorded and its directory renamed into place in the same
write transaction; removal forgets the record first and deletes the directory after, so
a crash leaves at worst an orphaned directory, which `cleanup` removes.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import sqlite3
import time
from collections.abc import Iterator, Mapping
from pathlib import Path

from capsa.errors import AlreadyExists, InvalidArgument, NotFound
from capsa.sqlitedb import Database, script
from capsa.store._files import remove_tree
from capsa.store.errors import InUse
from capsa.store.fsops import FsOps, RealFsOps
from capsa.store.snapshots.base import ApplyTarget, Info, Kind, Mount, Usage, disk_usage

STALE_NEW = 3600.0  # a half-made snapshot older than this belongs to a dead process


def _v1(db: sqlite3.Connection) -> None:
    script(
        db,
        """
        CREATE TABLE snapshots (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            key TEXT NOT NULL UNIQUE,
            kind TEXT NOT NULL,
            parent TEXT,
            labels TEXT NOT NULL DEFAULT '{}',
            created REAL NOT NULL,
            updated REAL NOT NULL,
            size INTEGER NOT NULL DEFAULT 0,
            inodes INTEGER NOT NULL DEFAULT 0
        );
        CREATE INDEX snapshots_parent ON snapshots(parent)
        """,
    )


class DirSnapshotter:
    name = "dirs"

    def __init__(self, root: str | os.PathLike[str], *, ops: FsOps | None = None) -> None:
        self.root = Path(os.path.abspath(root))
        if any(char in str(self.root) for char in ",:"):
            raise InvalidArgument(
                f"snapshot root {self.root} must not contain ',' or ':' (mount options)"
            )
        self.ops = ops or RealFsOps()
        for directory in (self.root, self.root / "snapshots", self.root / "removed"):
            directory.mkdir(mode=0o711, parents=True, exist_ok=True)
        self.db = Database(self.root / "metadata.db", [_v1], what=f"{self.name} snapshot database")

    def close(self) -> None:
        self.db.close()

    # -- records ------------------------------------------------------------------------

    def _row(self, key: str) -> sqlite3.Row:
        rows = self.db.read("SELECT * FROM snapshots WHERE key = ?", (key,))
        if not rows:
            raise NotFound(f"snapshot {key!r} not found ({self.name})")
        return rows[0]

    @staticmethod
    def _info(row: sqlite3.Row) -> Info:
        return Info(
            row["key"],
            Kind(row["kind"]),
            row["parent"],
            json.loads(row["labels"]),
            row["created"],
            row["updated"],
        )

    def _dir(self, snapshot_id: int) -> Path:
        return self.root / "snapshots" / str(snapshot_id)

    def _fs(self, snapshot_id: int) -> str:
        return str(self._dir(snapshot_id) / "fs")

    def _parents(self, row: sqlite3.Row) -> list[sqlite3.Row]:
        """The committed ancestors of a snapshot, nearest first."""
        chain = []
        parent = row["parent"]
        while parent is not None:
            parent_row = self._row(parent)
            chain.append(parent_row)
            parent = parent_row["parent"]
        return chain

    def stat(self, key: str) -> Info:
        return self._info(self._row(key))

    def walk(self) -> Iterator[Info]:
        for row in self.db.read("SELECT * FROM snapshots ORDER BY id"):
            yield self._info(row)

    def usage(self, key: str) -> Usage:
        row = self._row(key)
        if row["kind"] == Kind.COMMITTED:
            return Usage(row["size"], row["inodes"])
        return disk_usage(self._fs(row["id"]))

    def update_labels(self, key: str, labels: Mapping[str, str]) -> Info:
        with self.db.transaction() as db:
            cursor = db.execute(
                "UPDATE snapshots SET labels = ?, updated = ? WHERE key = ?",
                (json.dumps(dict(labels), sort_keys=True), time.time(), key),
            )
            if not cursor.rowcount:
                raise NotFound(f"snapshot {key!r} not found ({self.name})")
        return self.stat(key)

    # -- the verbs ----------------------------------------------------------------------

    def mounts(self, key: str) -> list[Mount]:
        row = self._row(key)
        if row["kind"] == Kind.COMMITTED:
            raise InvalidArgument(
                f"snapshot {key!r} is committed: mount a view or an active child of it"
            )
        return self._mounts(row, self._parents(row))

    def prepare(
        self, key: str, parent: str | None = None, labels: Mapping[str, str] | None = None
    ) -> list[Mount]:
        return self._create(key, parent, Kind.ACTIVE, labels)

    def view(
        self, key: str, parent: str | None = None, labels: Mapping[str, str] | None = None
    ) -> list[Mount]:
        return self._create(key, parent, Kind.VIEW, labels)

    def _check_parent(self, db: sqlite3.Connection, parent: str | None) -> sqlite3.Row | None:
        if parent is None:
            return None
        row = db.execute("SELECT * FROM snapshots WHERE key = ?", (parent,)).fetchone()
        if row is None:
            raise NotFound(f"parent snapshot {parent!r} not found ({self.name})")
        if row["kind"] != Kind.COMMITTED:
            raise InvalidArgument(f"parent snapshot {parent!r} is not committed")
        return row  # type: ignore[no-any-return]

    def _create(
        self, key: str, parent: str | None, kind: Kind, labels: Mapping[str, str] | None
    ) -> list[Mount]:
        if not key:
            raise InvalidArgument("a snapshot key must not be empty")
        with self.db.transaction() as db:  # fail early, before any copying
            if db.execute("SELECT 1 FROM snapshots WHERE key = ?", (key,)).fetchone():
                raise AlreadyExists(f"snapshot {key!r} already exists ({self.name})")
            parent_row = self._check_parent(db, parent)
        self._check_depth(parent_row)
        tmp = self.root / "snapshots" / f"new-{secrets.token_hex(8)}"
        tmp.mkdir(mode=0o711)
        try:
            (tmp / "fs").mkdir(mode=0o755)
            os.chmod(tmp / "fs", 0o755)
            self._populate(tmp, kind, None if parent_row is None else self._fs(parent_row["id"]))
            now = time.time()
            with self.db.transaction() as db:
                if db.execute("SELECT 1 FROM snapshots WHERE key = ?", (key,)).fetchone():
                    raise AlreadyExists(f"snapshot {key!r} already exists ({self.name})")
                self._check_parent(db, parent)
                cursor = db.execute(
                    "INSERT INTO snapshots (key, kind, parent, labels, created, updated) "
                    "VALUES (?, ?, ?, ?, ?, ?)",
                    (key, kind.value, parent, json.dumps(dict(labels or {})), now, now),
                )
                snapshot_id = int(cursor.lastrowid or 0)
                target = self._dir(snapshot_id)
                if os.path.lexists(target):  # left by a crash before its record was kept
                    self._discard(target)
                os.rename(tmp, target)
        except BaseException:
            remove_tree(tmp)
            raise
        row = self._row(key)
        return self._mounts(row, self._parents(row))

    def commit(self, name: str, key: str, labels: Mapping[str, str] | None = None) -> None:
        if not name:
            raise InvalidArgument("a snapshot name must not be empty")
        row = self._row(key)
        if row["kind"] != Kind.ACTIVE:
            raise InvalidArgument(
                f"snapshot {key!r} is a {row['kind']}: only an active one commits"
            )
        usage = disk_usage(self._fs(row["id"]))
        with self.db.transaction() as db:
            if db.execute("SELECT 1 FROM snapshots WHERE key = ?", (name,)).fetchone():
                raise AlreadyExists(f"snapshot {name!r} already exists ({self.name})")
            current = db.execute("SELECT kind FROM snapshots WHERE id = ?", (row["id"],)).fetchone()
            if current is None or current["kind"] != Kind.ACTIVE:
                raise NotFound(f"active snapshot {key!r} not found ({self.name})")
            merged = json.loads(row["labels"])
            merged.update(labels or {})
            db.execute(
                "UPDATE snapshots SET key = ?, kind = ?, labels = ?, updated = ?, size = ?, "
                "inodes = ? WHERE id = ?",
                (
                    name,
                    Kind.COMMITTED.value,
                    json.dumps(merged),
                    time.time(),
                    usage.size,
                    usage.inodes,
                    row["id"],
                ),
            )
        self._committed(row["id"])

    def remove(self, key: str, *, defer: bool = False) -> None:
        """Forget the snapshot and delete its directory (with `defer`, leave the deleting
        to `cleanup`: garbage collection removes while holding a lock)."""
        with self.db.transaction() as db:
            row = db.execute("SELECT * FROM snapshots WHERE key = ?", (key,)).fetchone()
            if row is None:
                raise NotFound(f"snapshot {key!r} not found ({self.name})")
            children = [
                r[0] for r in db.execute("SELECT key FROM snapshots WHERE parent = ?", (key,))
            ]
            if children:
                raise InUse(
                    f"snapshot {key!r} has children: {', '.join(sorted(children))}",
                    hint="remove them first",
                )
            db.execute("DELETE FROM snapshots WHERE id = ?", (row["id"],))
        self._discard(self._dir(row["id"]), now=not defer)

    def cleanup(self) -> list[str]:
        """Delete directories no record owns (crash leftovers). Returns what went."""
        removed = []
        with self.db.transaction() as db:
            ids = {str(r[0]) for r in db.execute("SELECT id FROM snapshots")}
            for entry in os.listdir(self.root / "snapshots"):
                path = self.root / "snapshots" / entry
                stale_new = entry.startswith("new-") and _age(path) > STALE_NEW
                if (entry.isdigit() and entry not in ids) or stale_new:
                    self._discard(path)
                    removed.append(entry)
        for entry in os.listdir(self.root / "removed"):
            with contextlib.suppress(OSError):
                remove_tree(self.root / "removed" / entry)
        return removed

    def _discard(self, path: Path, *, now: bool = False) -> None:
        trash = self.root / "removed" / f"{path.name}-{secrets.token_hex(4)}"
        try:
            os.rename(path, trash)
        except FileNotFoundError:
            return
        if now:
            with contextlib.suppress(OSError):
                remove_tree(trash)

    # -- what each kind of snapshotter says ---------------------------------------------

    def _check_depth(self, parent: sqlite3.Row | None) -> None:
        """Refuse a chain the snapshotter cannot mount."""

    def _populate(self, tmp: Path, kind: Kind, parent_fs: str | None) -> None:
        raise NotImplementedError

    def _mounts(self, row: sqlite3.Row, parents: list[sqlite3.Row]) -> list[Mount]:
        raise NotImplementedError

    def _committed(self, snapshot_id: int) -> None:
        """After commit (overlay drops its work directory)."""

    def apply_target(self, key: str) -> ApplyTarget:
        raise NotImplementedError


def _age(path: Path) -> float:
    try:
        return time.time() - path.stat().st_mtime
    except FileNotFoundError:
        return 0.0
