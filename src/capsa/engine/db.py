"""The engine database: containers, volumes and events in one SQLite file (WAL), shared
by every capsa process and the monitors. State changes are compare-and-set inside one
write transaction, so two commands never both win a transition."""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from capsa.engine.spec import ContainerSpec
from capsa.engine.state import ContainerState
from capsa.errors import AlreadyExists, Conflict, NotFound
from capsa.sqlitedb import Database, script


def _v1(db: sqlite3.Connection) -> None:
    script(
        db,
        """
        CREATE TABLE containers (
            id TEXT PRIMARY KEY,
            name TEXT NOT NULL UNIQUE,
            created_ns INTEGER NOT NULL,
            image_id TEXT NOT NULL,
            image_name TEXT NOT NULL,
            spec TEXT NOT NULL,
            image_config TEXT NOT NULL,
            state TEXT NOT NULL
        );
        CREATE INDEX containers_image ON containers (image_id);
        CREATE TABLE volumes (
            name TEXT PRIMARY KEY,
            driver TEXT NOT NULL,
            created_ns INTEGER NOT NULL,
            labels TEXT NOT NULL,
            options TEXT NOT NULL,
            anonymous INTEGER NOT NULL
        );
        CREATE TABLE events (
            seq INTEGER PRIMARY KEY AUTOINCREMENT,
            time_ns INTEGER NOT NULL,
            type TEXT NOT NULL,
            action TEXT NOT NULL,
            actor TEXT NOT NULL,
            attributes TEXT NOT NULL
        );
        CREATE INDEX events_time ON events (time_ns)
        """,
    )


MIGRATIONS = (_v1,)
EVENTS_KEPT = 10000  # the newest events kept; older ones are dropped on write


@dataclass
class ContainerRecord:
    id: str
    name: str
    created_ns: int
    image_id: str
    image_name: str
    spec: ContainerSpec
    image_config: dict[str, Any]  # the image's `config` object when it was created
    state: ContainerState


@dataclass
class VolumeRecord:
    name: str
    driver: str
    created_ns: int
    labels: dict[str, str]
    options: dict[str, str]
    anonymous: bool


@dataclass
class Event:
    seq: int
    time_ns: int
    type: str  # container, image, volume, network
    action: str  # create, start, die, destroy…
    actor: str  # the object's ID (or name, for volumes)
    attributes: dict[str, str]


def _container(row: sqlite3.Row) -> ContainerRecord:
    return ContainerRecord(
        id=row["id"],
        name=row["name"],
        created_ns=row["created_ns"],
        image_id=row["image_id"],
        image_name=row["image_name"],
        spec=ContainerSpec.from_json(json.loads(row["spec"])),
        image_config=json.loads(row["image_config"]),
        state=ContainerState.from_json(json.loads(row["state"])),
    )


class EngineDB(Database):
    def __init__(self, path: str) -> None:
        super().__init__(path, MIGRATIONS, what="engine database")

    # -- containers ---------------------------------------------------------------------

    def add_container(self, record: ContainerRecord) -> None:
        try:
            with self.transaction() as db:
                db.execute(
                    "INSERT INTO containers VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                    (
                        record.id,
                        record.name,
                        record.created_ns,
                        record.image_id,
                        record.image_name,
                        json.dumps(record.spec.to_json()),
                        json.dumps(record.image_config),
                        json.dumps(record.state.to_json()),
                    ),
                )
        except sqlite3.IntegrityError:
            raise AlreadyExists(
                f"the container name {record.name!r} is already in use",
                hint="remove that container or choose another --name",
            ) from None

    def container(self, container_id: str) -> ContainerRecord:
        rows = self.read("SELECT * FROM containers WHERE id = ?", (container_id,))
        if not rows:
            raise NotFound(f"no such container: {container_id}")
        return _container(rows[0])

    def containers(self) -> list[ContainerRecord]:
        return [_container(row) for row in self.read("SELECT * FROM containers")]

    def find_container(self, text: str) -> ContainerRecord:
        """By full ID, name, or unique ID prefix (Docker's order)."""
        if not text:
            raise NotFound("no container given")
        rows = self.read("SELECT * FROM containers WHERE id = ? OR name = ?", (text, text))
        if rows:
            exact = [row for row in rows if row["id"] == text] or rows
            return _container(exact[0])
        if all(c in "0123456789abcdef" for c in text):
            rows = self.read(
                "SELECT * FROM containers WHERE id >= ? AND id < ?", (text, text + "g")
            )
            if len(rows) == 1:
                return _container(rows[0])
            if len(rows) > 1:
                raise Conflict(
                    f"container ID prefix {text!r} is ambiguous: {len(rows)} containers match",
                    hint="give more of the ID, or the name",
                )
        raise NotFound(f"no such container: {text}", hint="see capsa ps -a")

    def update_state(
        self,
        container_id: str,
        change: Callable[[ContainerState], ContainerState | None],
    ) -> ContainerState:
        """Apply `change` to the stored state in one write transaction. `change` returns
        the new state, or None to keep it as it is (a compare-and-set that lost)."""
        with self.transaction() as db:
            row = db.execute(
                "SELECT state FROM containers WHERE id = ?", (container_id,)
            ).fetchone()
            if row is None:
                raise NotFound(f"no such container: {container_id}")
            state = ContainerState.from_json(json.loads(row["state"]))
            new = change(state)
            if new is None:
                return state
            db.execute(
                "UPDATE containers SET state = ? WHERE id = ?",
                (json.dumps(new.to_json()), container_id),
            )
            return new

    def update_spec(
        self, container_id: str, change: Callable[[ContainerSpec], ContainerSpec]
    ) -> ContainerSpec:
        """Apply `change` to the stored spec in one write transaction (network connect)."""
        with self.transaction() as db:
            row = db.execute("SELECT spec FROM containers WHERE id = ?", (container_id,)).fetchone()
            if row is None:
                raise NotFound(f"no such container: {container_id}")
            spec = change(ContainerSpec.from_json(json.loads(row["spec"])))
            db.execute(
                "UPDATE containers SET spec = ? WHERE id = ?",
                (json.dumps(spec.to_json()), container_id),
            )
            return spec

    def rename_container(self, container_id: str, name: str) -> None:
        try:
            with self.transaction() as db:
                spec_row = db.execute(
                    "SELECT spec FROM containers WHERE id = ?", (container_id,)
                ).fetchone()
                if spec_row is None:
                    raise NotFound(f"no such container: {container_id}")
                spec = json.loads(spec_row["spec"])
                spec["name"] = name
                db.execute(
                    "UPDATE containers SET name = ?, spec = ? WHERE id = ?",
                    (name, json.dumps(spec), container_id),
                )
        except sqlite3.IntegrityError:
            raise AlreadyExists(
                f"the container name {name!r} is already in use",
                hint="remove that container or choose another name",
            ) from None

    def remove_container(self, container_id: str) -> None:
        with self.transaction() as db:
            db.execute("DELETE FROM containers WHERE id = ?", (container_id,))

    def image_users(self) -> dict[str, list[str]]:
        """Image ID -> the IDs of the containers made from it."""
        users: dict[str, list[str]] = {}
        for row in self.read("SELECT id, image_id FROM containers"):
            users.setdefault(row["image_id"], []).append(row["id"])
        return users

    # -- volumes ------------------------------------------------------------------------

    def add_volume(self, record: VolumeRecord) -> bool:
        """Record a volume; False if one of that name exists already."""
        with self.transaction() as db:
            try:
                db.execute(
                    "INSERT INTO volumes VALUES (?, ?, ?, ?, ?, ?)",
                    (
                        record.name,
                        record.driver,
                        record.created_ns,
                        json.dumps(record.labels),
                        json.dumps(record.options),
                        int(record.anonymous),
                    ),
                )
            except sqlite3.IntegrityError:
                return False
        return True

    def volume(self, name: str) -> VolumeRecord:
        rows = self.read("SELECT * FROM volumes WHERE name = ?", (name,))
        if not rows:
            raise NotFound(f"no such volume: {name}", hint="see capsa volume ls")
        return _volume(rows[0])

    def volumes(self) -> list[VolumeRecord]:
        return [_volume(row) for row in self.read("SELECT * FROM volumes ORDER BY name")]

    def remove_volume(self, name: str) -> None:
        with self.transaction() as db:
            db.execute("DELETE FROM volumes WHERE name = ?", (name,))

    # -- events -------------------------------------------------------------------------

    def add_event(
        self, type_: str, action: str, actor: str, attributes: dict[str, str] | None = None
    ) -> None:
        with self.transaction() as db:
            cursor = db.execute(
                "INSERT INTO events (time_ns, type, action, actor, attributes) "
                "VALUES (?, ?, ?, ?, ?)",
                (time.time_ns(), type_, action, actor, json.dumps(attributes or {})),
            )
            seq = cursor.lastrowid or 0
            if seq % 1000 == 0:
                db.execute("DELETE FROM events WHERE seq <= ?", (seq - EVENTS_KEPT,))

    def events_after(self, seq: int, limit: int = 1000) -> list[Event]:
        rows = self.read("SELECT * FROM events WHERE seq > ? ORDER BY seq LIMIT ?", (seq, limit))
        return [_event(row) for row in rows]

    def events_since(self, time_ns: int) -> Iterator[Event]:
        last = 0
        rows = self.read("SELECT * FROM events WHERE time_ns >= ? ORDER BY seq LIMIT 1", (time_ns,))
        if not rows:
            return
        last = rows[0]["seq"] - 1
        while True:
            batch = self.events_after(last)
            if not batch:
                return
            yield from batch
            last = batch[-1].seq

    def last_event_seq(self) -> int:
        rows = self.read("SELECT MAX(seq) FROM events")
        return int(rows[0][0] or 0)


def _volume(row: sqlite3.Row) -> VolumeRecord:
    return VolumeRecord(
        name=row["name"],
        driver=row["driver"],
        created_ns=row["created_ns"],
        labels=json.loads(row["labels"]),
        options=json.loads(row["options"]),
        anonymous=bool(row["anonymous"]),
    )


def _event(row: sqlite3.Row) -> Event:
    return Event(
        seq=row["seq"],
        time_ns=row["time_ns"],
        type=row["type"],
        action=row["action"],
        actor=row["actor"],
        attributes=json.loads(row["attributes"]),
    )
