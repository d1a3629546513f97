"""Image metadata in SQLite (WAL): images, names, layers, leases; the marks for GC.

Many capsa processes share one database (`<root>/capsa.db`). WAL lets readers run beside
one writer; every change of more than one row runs in one `BEGIN IMMEDIATE` transaction
(the write lock is taken up front, so a transaction never fails half-way on a busy
database); a short busy timeout and a retry loop with backoff ride out other writers.
The schema carries its version in `PRAGMA user_version` and is migrated step by step.

Leases are how a long operation (a pull, a build, a container) keeps what it uses from
garbage collection before it is referenced by an image: a lease names blobs, layers
(chain IDs), snapshots, ingests and images. A lease with no expiry lasts until deleted
(a container's); one with an expiry is forgotten after it (a crashed pull's).
"""

from __future__ import annotations

import json
import os
import secrets
import sqlite3
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum

from capsa.errors import AlreadyExists, Conflict, InvalidArgument, NotFound
from capsa.oci.digest import Digest
from capsa.sqlitedb import BUSY_TIMEOUT, RETRY_FOR, Database, script
from capsa.store.errors import InUse


class ResourceKind(StrEnum):
    BLOB = "blob"
    LAYER = "layer"  # a chain ID
    SNAPSHOT = "snapshot"  # a snapshotter key
    INGEST = "ingest"  # an ingest ref
    IMAGE = "image"  # an image ID


@dataclass(frozen=True)
class ImageRecord:
    id: str  # the config digest
    manifest_digest: str
    index_digest: str | None
    created: float  # when the store got it
    size: int
    layers: tuple[str, ...]  # chain IDs, bottom first
    names: tuple[str, ...]
    platform: str = ""  # os/arch[/variant] of its config, normalised; "" if it names none

    @property
    def top_layer(self) -> str | None:
        return self.layers[-1] if self.layers else None


@dataclass(frozen=True)
class IndexMember:
    """An image of a multi-platform index that the store holds whole."""

    image_id: str
    manifest_digest: str
    platform: str  # as the index lists it, normalised; "" if it lists none
    position: int  # its place among the index's entries (nested indexes flattened)


@dataclass(frozen=True)
class IndexRecord:
    digest: str
    media_type: str
    created: float
    members: tuple[IndexMember, ...]
    names: tuple[str, ...]


@dataclass(frozen=True)
class NameRecord:
    name: str
    image_id: str  # the image the name gives when no platform is asked for
    index_digest: str | None  # the index it names, when it names one


@dataclass(frozen=True)
class LayerRecord:
    chain_id: str
    diff_id: str
    parent: str | None
    size: int  # bytes of uncompressed tar
    snapshot_key: str
    created: float


@dataclass(frozen=True)
class LayerBlob:
    diff_id: str
    digest: str
    size: int
    media_type: str


@dataclass(frozen=True)
class LeaseRecord:
    id: str
    created: float
    expires: float | None
    labels: Mapping[str, str]


@dataclass(frozen=True)
class LayerUsers:
    images: tuple[str, ...]
    children: tuple[str, ...]
    leases: tuple[str, ...]

    @property
    def count(self) -> int:
        return len(self.images) + len(self.children) + len(self.leases)


@dataclass(frozen=True)
class Marks:
    """What garbage collection must keep."""

    blobs: frozenset[str]
    layers: frozenset[str]  # chain IDs
    snapshots: frozenset[str]  # snapshotter keys leased directly
    ingests: frozenset[str]


def _v1(db: sqlite3.Connection) -> None:
    script(
        db,
        """
        CREATE TABLE layers (
            chain_id TEXT PRIMARY KEY,
            diff_id TEXT NOT NULL,
            parent TEXT REFERENCES layers(chain_id),
            size INTEGER NOT NULL,
            snapshot_key TEXT NOT NULL,
            created REAL NOT NULL
        );
        CREATE INDEX layers_parent ON layers(parent);
        CREATE INDEX layers_diff_id ON layers(diff_id);
        CREATE TABLE layer_blobs (
            diff_id TEXT NOT NULL,
            digest TEXT NOT NULL,
            size INTEGER NOT NULL,
            media_type TEXT NOT NULL DEFAULT '',
            PRIMARY KEY (diff_id, digest)
        );
        CREATE INDEX layer_blobs_digest ON layer_blobs(digest);
        CREATE TABLE images (
            id TEXT PRIMARY KEY,
            manifest_digest TEXT NOT NULL,
            index_digest TEXT,
            created REAL NOT NULL,
            size INTEGER NOT NULL
        );
        CREATE TABLE image_layers (
            image_id TEXT NOT NULL REFERENCES images(id) ON DELETE CASCADE,
            position INTEGER NOT NULL,
            chain_id TEXT NOT NULL REFERENCES layers(chain_id),
            PRIMARY KEY (image_id, position)
        );
        CREATE INDEX image_layers_chain ON image_layers(chain_id);
        CREATE TABLE image_blobs (
            image_id TEXT NOT NULL REFERENCES images(id) ON DELETE CASCADE,
            digest TEXT NOT NULL,
            role TEXT NOT NULL,
            PRIMARY KEY (image_id, digest)
        );
        CREATE INDEX image_blobs_digest ON image_blobs(digest);
        CREATE TABLE names (
            name TEXT PRIMARY KEY,
            image_id TEXT NOT NULL REFERENCES images(id) ON DELETE CASCADE,
            created REAL NOT NULL
        );
        CREATE INDEX names_image ON names(image_id);
        CREATE TABLE leases (
            id TEXT PRIMARY KEY,
            created REAL NOT NULL,
            expires REAL,
            labels TEXT NOT NULL DEFAULT '{}'
        );
        CREATE TABLE lease_resources (
            lease_id TEXT NOT NULL REFERENCES leases(id) ON DELETE CASCADE,
            kind TEXT NOT NULL,
            key TEXT NOT NULL,
            PRIMARY KEY (lease_id, kind, key)
        );
        CREATE INDEX lease_resources_key ON lease_resources(kind, key);
        """,
    )


def _v2(db: sqlite3.Connection) -> None:
    """Multi-platform images: an index kept whole, its images, and names that name it."""
    script(
        db,
        """
        ALTER TABLE images ADD COLUMN platform TEXT NOT NULL DEFAULT '';
        CREATE TABLE indexes (
            digest TEXT PRIMARY KEY,
            media_type TEXT NOT NULL,
            created REAL NOT NULL
        );
        CREATE TABLE index_members (
            index_digest TEXT NOT NULL REFERENCES indexes(digest) ON DELETE CASCADE,
            image_id TEXT NOT NULL REFERENCES images(id) ON DELETE CASCADE,
            manifest_digest TEXT NOT NULL,
            platform TEXT NOT NULL,
            position INTEGER NOT NULL,
            PRIMARY KEY (index_digest, image_id)
        );
        CREATE INDEX index_members_image ON index_members(image_id);
        CREATE TABLE index_blobs (
            index_digest TEXT NOT NULL REFERENCES indexes(digest) ON DELETE CASCADE,
            digest TEXT NOT NULL,
            PRIMARY KEY (index_digest, digest)
        );
        ALTER TABLE names ADD COLUMN index_digest TEXT REFERENCES indexes(digest)
            ON DELETE SET NULL;
        """,
    )


# MIGRATIONS[n] takes a database at version n to version n + 1.
MIGRATIONS: tuple[Callable[[sqlite3.Connection], None], ...] = (_v1, _v2)
SCHEMA_VERSION = len(MIGRATIONS)


class Metadata(Database):
    """The metadata database at `path`. One connection, safe to share between threads."""

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        busy_timeout: float = BUSY_TIMEOUT,
        retry_for: float = RETRY_FOR,
    ) -> None:
        super().__init__(
            path,
            MIGRATIONS,
            what="image database",
            busy_timeout=busy_timeout,
            retry_for=retry_for,
        )

    def __enter__(self) -> Metadata:
        return self

    # -- layers -------------------------------------------------------------------------

    def put_layer(
        self,
        chain_id: str,
        diff_id: str,
        parent: str | None,
        size: int,
        snapshot_key: str | None = None,
    ) -> LayerRecord:
        """Record a committed layer (idempotent: an existing record is returned as is)."""
        with self.transaction() as db:
            row = db.execute("SELECT * FROM layers WHERE chain_id = ?", (chain_id,)).fetchone()
            if row is not None:
                return _layer(row)
            if (
                parent is not None
                and not db.execute("SELECT 1 FROM layers WHERE chain_id = ?", (parent,)).fetchone()
            ):
                raise NotFound(f"parent layer {parent} of {chain_id} is not in the store")
            now = time.time()
            db.execute(
                "INSERT INTO layers VALUES (?, ?, ?, ?, ?, ?)",
                (chain_id, diff_id, parent, size, snapshot_key or chain_id, now),
            )
            return LayerRecord(chain_id, diff_id, parent, size, snapshot_key or chain_id, now)

    def get_layer(self, chain_id: str) -> LayerRecord:
        rows = self.read("SELECT * FROM layers WHERE chain_id = ?", (chain_id,))
        if not rows:
            raise NotFound(f"layer {chain_id} not found")
        return _layer(rows[0])

    def has_layer(self, chain_id: str) -> bool:
        return bool(self.read("SELECT 1 FROM layers WHERE chain_id = ?", (chain_id,)))

    def layers(self) -> list[LayerRecord]:
        return [_layer(row) for row in self.read("SELECT * FROM layers ORDER BY created")]

    def add_layer_blob(self, diff_id: str, digest: str, size: int, media_type: str = "") -> None:
        """Remember that blob `digest` unpacks to `diff_id` (to skip a download later)."""
        with self.transaction() as db:
            db.execute(
                "INSERT OR IGNORE INTO layer_blobs VALUES (?, ?, ?, ?)",
                (diff_id, digest, size, media_type),
            )

    def layer_blobs(
        self, *, diff_id: str | None = None, digest: str | None = None
    ) -> list[LayerBlob]:
        if diff_id is not None:
            rows = self.read("SELECT * FROM layer_blobs WHERE diff_id = ?", (diff_id,))
        elif digest is not None:
            rows = self.read("SELECT * FROM layer_blobs WHERE digest = ?", (digest,))
        else:
            rows = self.read("SELECT * FROM layer_blobs")
        return [LayerBlob(r["diff_id"], r["digest"], r["size"], r["media_type"]) for r in rows]

    def layer_users(self, chain_id: str) -> LayerUsers:
        images = self.read(
            "SELECT DISTINCT image_id FROM image_layers WHERE chain_id = ? ORDER BY image_id",
            (chain_id,),
        )
        children = self.read(
            "SELECT chain_id FROM layers WHERE parent = ? ORDER BY chain_id", (chain_id,)
        )
        leases = self.read(
            "SELECT DISTINCT lease_id FROM lease_resources WHERE kind = ? AND key = ?",
            (ResourceKind.LAYER.value, chain_id),
        )
        return LayerUsers(
            tuple(r[0] for r in images), tuple(r[0] for r in children), tuple(r[0] for r in leases)
        )

    def delete_layers(self, chain_ids: Iterable[str]) -> None:
        """Forget layers (children before parents; refuses one that is still used)."""
        with self.transaction() as db:
            for chain_id in chain_ids:
                try:
                    db.execute("DELETE FROM layers WHERE chain_id = ?", (chain_id,))
                except sqlite3.IntegrityError:
                    raise Conflict(f"layer {chain_id} is still used") from None

    # -- images -------------------------------------------------------------------------

    def put_image(
        self,
        image_id: str,
        manifest_digest: str,
        *,
        size: int,
        layers: Sequence[str],
        blobs: Mapping[str, str],
        index_digest: str | None = None,
        names: Iterable[str] = (),
        platform: str = "",
    ) -> ImageRecord:
        """Record an image whole, in one transaction: its layers (chain IDs, bottom first,
        already recorded), every blob it references (digest -> role: index, manifest,
        config, layer) and its names (moved here from any image that had them)."""
        _check_digest(image_id, "image ID")
        with self.transaction() as db:
            for chain_id in layers:
                if not db.execute(
                    "SELECT 1 FROM layers WHERE chain_id = ?", (chain_id,)
                ).fetchone():
                    raise NotFound(f"layer {chain_id} of image {image_id} is not in the store")
            existing = db.execute("SELECT created FROM images WHERE id = ?", (image_id,)).fetchone()
            now = time.time()
            if existing is None:
                db.execute(
                    "INSERT INTO images (id, manifest_digest, index_digest, created, size, "
                    "platform) VALUES (?, ?, ?, ?, ?, ?)",
                    (image_id, manifest_digest, index_digest, now, size, platform),
                )
            else:
                db.execute(
                    "UPDATE images SET manifest_digest = ?, index_digest = ?, size = ?, "
                    "platform = ? WHERE id = ?",
                    (manifest_digest, index_digest, size, platform, image_id),
                )
                db.execute("DELETE FROM image_layers WHERE image_id = ?", (image_id,))
            db.executemany(
                "INSERT INTO image_layers VALUES (?, ?, ?)",
                [(image_id, position, chain_id) for position, chain_id in enumerate(layers)],
            )
            db.executemany(
                "INSERT OR REPLACE INTO image_blobs VALUES (?, ?, ?)",
                [(image_id, digest, role) for digest, role in blobs.items()],
            )
            for name in names:
                self.tag(name, image_id)
            return self.get_image(image_id)

    def get_image(self, image_id: str) -> ImageRecord:
        rows = self.read("SELECT * FROM images WHERE id = ?", (image_id,))
        if not rows:
            raise NotFound(f"image {image_id} not found")
        return self._image(rows[0])

    def _image(self, row: sqlite3.Row) -> ImageRecord:
        image_id = row["id"]
        layers = self.read(
            "SELECT chain_id FROM image_layers WHERE image_id = ? ORDER BY position", (image_id,)
        )
        names = self.read("SELECT name FROM names WHERE image_id = ? ORDER BY name", (image_id,))
        return ImageRecord(
            image_id,
            row["manifest_digest"],
            row["index_digest"],
            row["created"],
            row["size"],
            tuple(r[0] for r in layers),
            tuple(r[0] for r in names),
            row["platform"],
        )

    def images(self) -> list[ImageRecord]:
        return [self._image(row) for row in self.read("SELECT * FROM images ORDER BY created")]

    def image_blobs(self, image_id: str) -> dict[str, str]:
        rows = self.read("SELECT digest, role FROM image_blobs WHERE image_id = ?", (image_id,))
        return {r["digest"]: r["role"] for r in rows}

    def resolve_image(self, ref: str) -> ImageRecord:
        """An image by name (normalised by the caller), full ID, or unique ID prefix."""
        rows = self.read("SELECT image_id FROM names WHERE name = ?", (ref,))
        if rows:
            return self.get_image(rows[0][0])
        candidate = ref if ":" in ref else f"sha256:{ref}"
        rows = self.read("SELECT id FROM images WHERE id = ?", (candidate,))
        if rows:
            return self.get_image(rows[0][0])
        hexpart = ref.removeprefix("sha256:")
        if 3 <= len(hexpart) < 64 and all(c in "0123456789abcdef" for c in hexpart):
            rows = self.read(
                "SELECT id FROM images WHERE id >= ? AND id < ? LIMIT 2",
                (f"sha256:{hexpart}", f"sha256:{hexpart}~"),
            )
            if len(rows) > 1:
                raise Conflict(f"image ID prefix {hexpart!r} is ambiguous", hint="give more of it")
            if rows:
                return self.get_image(rows[0][0])
        raise NotFound(f"image {ref!r} not found")

    def tag(self, name: str, image_id: str, index_digest: str | None = None) -> None:
        """Point `name` at the image (taking it from any image that had it), and at the
        multi-platform index `index_digest` the image is the default of, if given."""
        if not name or any(c.isspace() for c in name):
            raise InvalidArgument(f"invalid image name {name!r}")
        with self.transaction() as db:
            if not db.execute("SELECT 1 FROM images WHERE id = ?", (image_id,)).fetchone():
                raise NotFound(f"image {image_id} not found")
            if (
                index_digest is not None
                and not db.execute(
                    "SELECT 1 FROM index_members WHERE index_digest = ? AND image_id = ?",
                    (index_digest, image_id),
                ).fetchone()
            ):
                raise NotFound(f"image {image_id} is not in the image index {index_digest}")
            db.execute(
                "INSERT INTO names (name, image_id, created, index_digest) VALUES (?, ?, ?, ?) "
                "ON CONFLICT(name) DO UPDATE SET image_id = excluded.image_id, "
                "created = excluded.created, index_digest = excluded.index_digest",
                (name, image_id, time.time(), index_digest),
            )

    def get_name(self, name: str) -> NameRecord:
        rows = self.read("SELECT * FROM names WHERE name = ?", (name,))
        if not rows:
            raise NotFound(f"image name {name!r} not found")
        return NameRecord(rows[0]["name"], rows[0]["image_id"], rows[0]["index_digest"])

    def names(self) -> list[NameRecord]:
        rows = self.read("SELECT * FROM names ORDER BY name")
        return [NameRecord(r["name"], r["image_id"], r["index_digest"]) for r in rows]

    # -- multi-platform indexes -----------------------------------------------------------

    def put_index(
        self,
        digest: str,
        media_type: str,
        *,
        members: Sequence[IndexMember],
        blobs: Iterable[str],
        default: str,
        names: Iterable[str] = (),
    ) -> IndexRecord:
        """Record an image index whose `members` are recorded images (more members are
        added to an index already known), the index documents it is made of (`blobs`: the
        index and any nested index) and its names, which give image `default` when no
        platform is asked for. Call inside the transaction that put the images."""
        _check_digest(digest, "index digest")
        if default not in {member.image_id for member in members}:
            raise InvalidArgument(f"image {default} is not a member of index {digest}")
        with self.transaction() as db:
            db.execute(
                "INSERT OR IGNORE INTO indexes VALUES (?, ?, ?)", (digest, media_type, time.time())
            )
            db.executemany(
                "INSERT OR REPLACE INTO index_members VALUES (?, ?, ?, ?, ?)",
                [(digest, m.image_id, m.manifest_digest, m.platform, m.position) for m in members],
            )
            db.executemany(
                "INSERT OR IGNORE INTO index_blobs VALUES (?, ?)", [(digest, b) for b in blobs]
            )
            for name in names:
                self.tag(name, default, digest)
            return self.get_index(digest)

    def get_index(self, digest: str) -> IndexRecord:
        rows = self.read("SELECT * FROM indexes WHERE digest = ?", (digest,))
        if not rows:
            raise NotFound(f"image index {digest} not found")
        names = self.read("SELECT name FROM names WHERE index_digest = ? ORDER BY name", (digest,))
        return IndexRecord(
            digest,
            rows[0]["media_type"],
            rows[0]["created"],
            tuple(self.index_members(digest)),
            tuple(r[0] for r in names),
        )

    def index_members(self, digest: str) -> list[IndexMember]:
        rows = self.read(
            "SELECT * FROM index_members WHERE index_digest = ? ORDER BY position", (digest,)
        )
        return [
            IndexMember(r["image_id"], r["manifest_digest"], r["platform"], r["position"])
            for r in rows
        ]

    def indexes(self) -> list[IndexRecord]:
        rows = self.read("SELECT digest FROM indexes ORDER BY created")
        return [self.get_index(r[0]) for r in rows]

    def image_indexes(self, image_id: str) -> list[str]:
        rows = self.read(
            "SELECT index_digest FROM index_members WHERE image_id = ? ORDER BY index_digest",
            (image_id,),
        )
        return [r[0] for r in rows]

    def index_blobs(self, digest: str) -> list[str]:
        rows = self.read("SELECT digest FROM index_blobs WHERE index_digest = ?", (digest,))
        return [r[0] for r in rows]

    def delete_index(self, digest: str) -> None:
        """Forget an index (its images stay until removed; names keep their image)."""
        with self.transaction() as db:
            db.execute("DELETE FROM indexes WHERE digest = ?", (digest,))

    def named_images(self) -> set[str]:
        """Images a name reaches: the one it points at, and every member of its index."""
        rows = self.read(
            "SELECT image_id FROM names UNION "
            "SELECT m.image_id FROM names n JOIN index_members m "
            "ON m.index_digest = n.index_digest"
        )
        return {r[0] for r in rows}

    def untag(self, name: str) -> str:
        """Remove a name; returns the image it pointed at."""
        with self.transaction() as db:
            row = db.execute("SELECT image_id FROM names WHERE name = ?", (name,)).fetchone()
            if row is None:
                raise NotFound(f"image name {name!r} not found")
            db.execute("DELETE FROM names WHERE name = ?", (name,))
            return str(row[0])

    def image_leases(self, image_id: str) -> list[str]:
        rows = self.read(
            "SELECT DISTINCT lease_id FROM lease_resources WHERE kind = ? AND key = ?",
            (ResourceKind.IMAGE.value, image_id),
        )
        return [r[0] for r in rows]

    def delete_image(self, image_id: str, *, force: bool = False) -> None:
        """Remove the image record and its names. Refuses (InUse) while a lease (a
        container) holds the image, unless `force`. Blobs and layers go at the next GC."""
        with self.transaction() as db:
            if not db.execute("SELECT 1 FROM images WHERE id = ?", (image_id,)).fetchone():
                raise NotFound(f"image {image_id} not found")
            users = self.image_leases(image_id)
            if users and not force:
                raise InUse(
                    f"image {image_id} is in use by {', '.join(sorted(users))}",
                    hint="remove the containers first, or force",
                )
            db.execute("DELETE FROM images WHERE id = ?", (image_id,))
            # an index none of whose images is left goes with its last one
            db.execute(
                "DELETE FROM indexes WHERE digest NOT IN (SELECT index_digest FROM index_members)"
            )

    # -- leases -------------------------------------------------------------------------

    def create_lease(
        self,
        lease_id: str | None = None,
        *,
        expires_in: float | None = 3600.0,
        labels: Mapping[str, str] | None = None,
    ) -> str:
        lease_id = lease_id or f"lease-{secrets.token_hex(8)}"
        now = time.time()
        expires = None if expires_in is None else now + expires_in
        with self.transaction() as db:
            try:
                db.execute(
                    "INSERT INTO leases VALUES (?, ?, ?, ?)",
                    (lease_id, now, expires, json.dumps(dict(labels or {}), sort_keys=True)),
                )
            except sqlite3.IntegrityError:
                raise AlreadyExists(f"lease {lease_id} already exists") from None
        return lease_id

    def extend_lease(self, lease_id: str, expires_in: float | None) -> None:
        expires = None if expires_in is None else time.time() + expires_in
        with self.transaction() as db:
            cursor = db.execute("UPDATE leases SET expires = ? WHERE id = ?", (expires, lease_id))
            if not cursor.rowcount:
                raise NotFound(f"lease {lease_id} not found")

    def add_lease_resource(self, lease_id: str, kind: ResourceKind, key: str) -> None:
        with self.transaction() as db:
            if not db.execute("SELECT 1 FROM leases WHERE id = ?", (lease_id,)).fetchone():
                raise NotFound(f"lease {lease_id} not found (expired and collected?)")
            db.execute(
                "INSERT OR IGNORE INTO lease_resources VALUES (?, ?, ?)",
                (lease_id, kind.value, key),
            )

    def remove_lease_resource(self, lease_id: str, kind: ResourceKind, key: str) -> None:
        with self.transaction() as db:
            db.execute(
                "DELETE FROM lease_resources WHERE lease_id = ? AND kind = ? AND key = ?",
                (lease_id, kind.value, key),
            )

    def lease_resources(self, lease_id: str) -> list[tuple[ResourceKind, str]]:
        rows = self.read(
            "SELECT kind, key FROM lease_resources WHERE lease_id = ? ORDER BY kind, key",
            (lease_id,),
        )
        return [(ResourceKind(r[0]), r[1]) for r in rows]

    def delete_lease(self, lease_id: str) -> None:
        with self.transaction() as db:
            db.execute("DELETE FROM leases WHERE id = ?", (lease_id,))

    def leases(self) -> list[LeaseRecord]:
        rows = self.read("SELECT * FROM leases ORDER BY created")
        return [
            LeaseRecord(r["id"], r["created"], r["expires"], json.loads(r["labels"])) for r in rows
        ]

    # -- garbage collection ---------------------------------------------------------------

    def expire_leases(self, now: float | None = None) -> list[str]:
        now = time.time() if now is None else now
        with self.transaction() as db:
            rows = db.execute(
                "SELECT id FROM leases WHERE expires IS NOT NULL AND expires <= ?", (now,)
            ).fetchall()
            db.execute("DELETE FROM leases WHERE expires IS NOT NULL AND expires <= ?", (now,))
            return [r[0] for r in rows]

    def marks(self) -> Marks:
        """Everything referenced by an image or a live lease (call inside a transaction
        for a consistent view: see Store.gc)."""
        db = self.connection
        with self.lock:
            leased: dict[str, set[str]] = {kind.value: set() for kind in ResourceKind}
            for kind, key in db.execute("SELECT kind, key FROM lease_resources"):
                leased.setdefault(kind, set()).add(key)
            # every image is a root: images go only when removed (rmi, prune)
            blobs = {r[0] for r in db.execute("SELECT digest FROM image_blobs")}
            blobs |= {r[0] for r in db.execute("SELECT digest FROM index_blobs")}
            layers = {r[0] for r in db.execute("SELECT chain_id FROM image_layers")}
            blobs |= leased[ResourceKind.BLOB.value]
            layers |= leased[ResourceKind.LAYER.value]
            parents = dict(db.execute("SELECT chain_id, parent FROM layers").fetchall())
            for chain_id in list(layers):
                parent = parents.get(chain_id)
                while parent is not None and parent not in layers:
                    layers.add(parent)
                    parent = parents.get(parent)
            return Marks(
                frozenset(blobs),
                frozenset(layers),
                frozenset(leased[ResourceKind.SNAPSHOT.value]),
                frozenset(leased[ResourceKind.INGEST.value]),
            )


def _layer(row: sqlite3.Row) -> LayerRecord:
    return LayerRecord(
        row["chain_id"],
        row["diff_id"],
        row["parent"],
        row["size"],
        row["snapshot_key"],
        row["created"],
    )


def _check_digest(value: str, what: str) -> None:
    try:
        Digest.parse(value)
    except InvalidArgument:
        raise InvalidArgument(f"invalid {what} {value!r}: expected a digest") from None
