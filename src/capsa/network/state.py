"""The networks' state in SQLite (WAL), shared by every capsa process on the host:
networks, endpoints (one row per container and network: the address management's
truth) and published ports.

Every change runs in one `BEGIN IMMEDIATE` transaction, so an address is chosen and
taken under the write lock; `UNIQUE (network_id, ip)` makes a duplicate impossible even
if the choosing were wrong. (The image store has the same shape of database in
capsa.store._sqlite; the layers keep capsa.network from importing it.)
"""

from __future__ import annotations

import contextlib
import ipaddress
import json
import os
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

from capsa.errors import AlreadyExists, Conflict, NotFound, Unavailable
from capsa.network.model import Endpoint, Network, PublishedPort

SCHEMA = """
CREATE TABLE networks (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    driver TEXT NOT NULL,
    bridge TEXT NOT NULL UNIQUE,
    subnet TEXT NOT NULL,
    gateway TEXT NOT NULL,
    ip_range TEXT,
    internal INTEGER NOT NULL,
    dns INTEGER NOT NULL,
    masquerade INTEGER NOT NULL,
    mtu INTEGER,
    labels TEXT NOT NULL,
    options TEXT NOT NULL,
    created TEXT NOT NULL,
    last_ip TEXT
);
CREATE TABLE endpoints (
    container_id TEXT NOT NULL,
    network_id TEXT NOT NULL REFERENCES networks(id),
    endpoint_id TEXT NOT NULL,
    container_name TEXT NOT NULL,
    interface TEXT NOT NULL,
    host_interface TEXT NOT NULL UNIQUE,
    netns TEXT NOT NULL,
    ip TEXT NOT NULL,
    mac TEXT NOT NULL,
    aliases TEXT NOT NULL,
    dns_servers TEXT NOT NULL,
    gateway_route INTEGER NOT NULL,
    PRIMARY KEY (container_id, network_id),
    UNIQUE (network_id, ip)
);
CREATE TABLE ports (
    container_id TEXT NOT NULL,
    protocol TEXT NOT NULL,
    host_ip TEXT NOT NULL,
    host_port INTEGER NOT NULL,
    container_ip TEXT NOT NULL,
    container_port INTEGER NOT NULL,
    network_id TEXT NOT NULL,
    UNIQUE (protocol, host_ip, host_port)
);
CREATE INDEX endpoints_by_network ON endpoints(network_id);
CREATE INDEX ports_by_container ON ports(container_id)
"""

BUSY_TIMEOUT = 1.0
RETRY_FOR = 60.0


def _busy(error: sqlite3.OperationalError) -> bool:
    text = str(error)
    return "locked" in text or "busy" in text


def network_from_row(row: sqlite3.Row) -> Network:
    return Network(
        id=row["id"],
        name=row["name"],
        driver=row["driver"],
        bridge=row["bridge"],
        subnet=ipaddress.IPv4Network(row["subnet"]),
        gateway=ipaddress.IPv4Address(row["gateway"]),
        ip_range=ipaddress.IPv4Network(row["ip_range"]) if row["ip_range"] else None,
        internal=bool(row["internal"]),
        dns=bool(row["dns"]),
        masquerade=bool(row["masquerade"]),
        mtu=row["mtu"],
        labels=json.loads(row["labels"]),
        options=json.loads(row["options"]),
        created=row["created"],
    )


def endpoint_from_row(row: sqlite3.Row) -> Endpoint:
    return Endpoint(
        container_id=row["container_id"],
        network_id=row["network_id"],
        endpoint_id=row["endpoint_id"],
        container_name=row["container_name"],
        interface=row["interface"],
        host_interface=row["host_interface"],
        netns=row["netns"],
        ip=ipaddress.IPv4Address(row["ip"]),
        mac=row["mac"],
        aliases=tuple(json.loads(row["aliases"])),
        dns_servers=tuple(json.loads(row["dns_servers"])),
        gateway_route=bool(row["gateway_route"]),
    )


def port_from_row(row: sqlite3.Row) -> PublishedPort:
    return PublishedPort(
        container_id=row["container_id"],
        protocol=row["protocol"],
        host_ip=row["host_ip"],
        host_port=row["host_port"],
        container_ip=row["container_ip"],
        container_port=row["container_port"],
        network_id=row["network_id"],
    )


class NetworkState:
    """One connection to `<root>/networks/networks.db`; writes go through `transaction()`."""

    def __init__(self, path: str | os.PathLike[str], *, readonly: bool = False) -> None:
        self.path = Path(path)
        self.lock = threading.RLock()
        self._depth = 0
        if readonly:
            uri = f"file:{self.path}?mode=ro"
            self.db = sqlite3.connect(
                uri,
                uri=True,
                timeout=BUSY_TIMEOUT,
                isolation_level=None,
                check_same_thread=False,
            )
        else:
            self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            self.db = sqlite3.connect(
                self.path, timeout=BUSY_TIMEOUT, isolation_level=None, check_same_thread=False
            )
        self.db.row_factory = sqlite3.Row
        if not readonly:
            with contextlib.suppress(OSError):
                os.chmod(self.path, 0o600)
            self._retry(lambda: self.db.execute("PRAGMA journal_mode=WAL"))
            self.db.execute("PRAGMA synchronous=NORMAL")
            self.db.execute("PRAGMA foreign_keys=ON")
            self._migrate()

    def close(self) -> None:
        self.db.close()

    def _retry(self, action: Callable[[], Any]) -> Any:
        deadline = time.monotonic() + RETRY_FOR
        delay = 0.005
        while True:
            try:
                return action()
            except sqlite3.OperationalError as error:
                if not _busy(error):
                    raise
                if time.monotonic() >= deadline:
                    raise Unavailable(
                        f"the network state {self.path} stayed locked for {RETRY_FOR:.0f}s",
                        hint="another capsa process holds it; retry later",
                    ) from error
                time.sleep(delay)
                delay = min(delay * 2, 0.25)

    @contextlib.contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        with self.lock:
            if self._depth:
                self._depth += 1
                try:
                    yield self.db
                finally:
                    self._depth -= 1
                return
            self._retry(lambda: self.db.execute("BEGIN IMMEDIATE"))
            self._depth = 1
            try:
                yield self.db
            except BaseException:
                self._depth = 0
                self.db.execute("ROLLBACK")
                raise
            self._depth = 0
            self._retry(lambda: self.db.execute("COMMIT"))

    def read(self, sql: str, args: Sequence[object] = ()) -> list[sqlite3.Row]:
        with self.lock:
            rows: list[sqlite3.Row] = self._retry(lambda: self.db.execute(sql, args).fetchall())
            return rows

    def _migrate(self) -> None:
        with self.transaction() as db:
            version = db.execute("PRAGMA user_version").fetchone()[0]
            if version > 1:
                raise Unavailable(
                    f"the network state {self.path} has schema version {version}, newer "
                    "than this capsa knows (1)",
                    hint="upgrade capsa",
                )
            if version == 0:
                for statement in SCHEMA.split(";"):
                    if statement.strip():
                        db.execute(statement)
                db.execute("PRAGMA user_version=1")

    # -- networks ------------------------------------------------------------------------

    def networks(self) -> list[Network]:
        return [network_from_row(r) for r in self.read("SELECT * FROM networks ORDER BY name")]

    def find(self, text: str) -> Network | None:
        """A network by name, full ID or unique ID prefix (as Docker looks them up)."""
        rows = self.read("SELECT * FROM networks WHERE name = ? OR id = ?", (text, text))
        if not rows and text and all(c in "0123456789abcdef" for c in text):
            rows = self.read("SELECT * FROM networks WHERE id LIKE ?", (text + "%",))
            if len(rows) > 1:
                raise Conflict(
                    f"network ID prefix {text} is ambiguous ({len(rows)} networks)",
                    hint="give more of the ID or the name",
                )
        return network_from_row(rows[0]) if rows else None

    def get(self, text: str) -> Network:
        network = self.find(text)
        if network is None:
            raise NotFound(f"network {text} not found", hint="see capsa network ls")
        return network

    def insert_network(self, db: sqlite3.Connection, network: Network) -> None:
        if db.execute("SELECT 1 FROM networks WHERE name = ?", (network.name,)).fetchone():
            raise AlreadyExists(
                f"network with name {network.name} already exists",
                hint="choose another name or remove it first (capsa network rm)",
            )
        db.execute(
            "INSERT INTO networks VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,NULL)",
            (
                network.id,
                network.name,
                network.driver,
                network.bridge,
                str(network.subnet),
                str(network.gateway),
                str(network.ip_range) if network.ip_range else None,
                int(network.internal),
                int(network.dns),
                int(network.masquerade),
                network.mtu,
                json.dumps(network.labels, sort_keys=True),
                json.dumps(network.options, sort_keys=True),
                network.created,
            ),
        )

    # -- endpoints and ports -------------------------------------------------------------

    def endpoints(
        self, *, container_id: str | None = None, network_id: str | None = None
    ) -> list[Endpoint]:
        clauses, args = [], []
        if container_id is not None:
            clauses.append("container_id = ?")
            args.append(container_id)
        if network_id is not None:
            clauses.append("network_id = ?")
            args.append(network_id)
        where = f" WHERE {' AND '.join(clauses)}" if clauses else ""
        rows = self.read(f"SELECT * FROM endpoints{where} ORDER BY rowid", args)
        return [endpoint_from_row(r) for r in rows]

    def insert_endpoint(self, db: sqlite3.Connection, endpoint: Endpoint) -> None:
        db.execute(
            "INSERT INTO endpoints VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
            (
                endpoint.container_id,
                endpoint.network_id,
                endpoint.endpoint_id,
                endpoint.container_name,
                endpoint.interface,
                endpoint.host_interface,
                endpoint.netns,
                str(endpoint.ip),
                endpoint.mac,
                json.dumps(list(endpoint.aliases)),
                json.dumps(list(endpoint.dns_servers)),
                int(endpoint.gateway_route),
            ),
        )
        db.execute(
            "UPDATE networks SET last_ip = ? WHERE id = ?", (str(endpoint.ip), endpoint.network_id)
        )

    def ports(self, *, container_id: str | None = None) -> list[PublishedPort]:
        if container_id is None:
            rows = self.read("SELECT * FROM ports ORDER BY rowid")
        else:
            rows = self.read(
                "SELECT * FROM ports WHERE container_id = ? ORDER BY rowid", (container_id,)
            )
        return [port_from_row(r) for r in rows]

    def insert_port(self, db: sqlite3.Connection, port: PublishedPort) -> None:
        db.execute(
            "INSERT INTO ports VALUES (?,?,?,?,?,?,?)",
            (
                port.container_id,
                port.protocol,
                port.host_ip,
                port.host_port,
                port.container_ip,
                port.container_port,
                port.network_id,
            ),
        )
