"""The networks' state in SQLite (WAL), shared by every capsa process on the host:
networks, endpoints (one row per container and network: the address management's
truth) and published ports.

Every change runs in one `BEGIN IMMEDIATE` transaction, so an address is chosen and
taken under the write lock; `UNIQUE (network_id, ip)` makes a duplicate impossible even
if the choosing were wrong. (The image store has the same shape of database in
capsa.sqlitedb; the layers keep capsa.network from importing it.)
"""

from __future__ import annotations

import ipaddress
import json
import os
import sqlite3
from pathlib import Path

from capsa.errors import AlreadyExists, Conflict, NotFound
from capsa.network.model import Endpoint, Network, PublishedPort
from capsa.sqlitedb import Database, script

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

MIGRATIONS = (lambda db: script(db, SCHEMA),)


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


class NetworkState(Database):
    """One connection to `<root>/networks/networks.db`; writes go through `transaction()`."""

    def __init__(self, path: str | os.PathLike[str], *, readonly: bool = False) -> None:
        if not readonly:
            Path(path).parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        super().__init__(path, MIGRATIONS, what="network state", readonly=readonly)
        self.db = self.connection

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
