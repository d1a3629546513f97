from __future__ import annotations

import ipaddress
import sqlite3
from pathlib import Path

import pytest

from capsa.errors import AlreadyExists, Conflict, NotFound
from capsa.network.model import Endpoint, Network
from capsa.network.state import NetworkState


def network(name: str, id_: str, bridge: str) -> Network:
    return Network(
        id_,
        name,
        bridge,
        ipaddress.IPv4Network("10.5.0.0/24"),
        ipaddress.IPv4Address("10.5.0.1"),
        None,
        False,
        True,
        True,
        None,
        {"a": "b"},
        {},
        "2026-01-01T00:00:00.000000000Z",
    )


def endpoint(cid: str, ip: str, host_if: str) -> Endpoint:
    return Endpoint(
        cid,
        "1" * 64,
        "e",
        "n",
        "eth0",
        host_if,
        "/ns",
        ipaddress.IPv4Address(ip),
        "02:00:00:00:00:01",
        ("x",),
        ("9.9.9.9",),
        True,
    )


def test_networks_and_endpoints_survive_a_reopen(tmp_path: Path) -> None:
    path = tmp_path / "networks" / "networks.db"
    state = NetworkState(path)
    with state.transaction() as db:
        state.insert_network(db, network("app", "1" * 64, "capsa1"))
        state.insert_endpoint(db, endpoint("c1", "10.5.0.2", "veth1"))
    state.close()
    again = NetworkState(path)
    assert again.get("app").labels == {"a": "b"}
    assert again.get("1" * 5).name == "app"  # an ID prefix
    assert [e.ip for e in again.endpoints(network_id="1" * 64)] == [
        ipaddress.IPv4Address("10.5.0.2")
    ]
    assert again.endpoints()[0].dns_servers == ("9.9.9.9",)
    last = again.read("SELECT last_ip FROM networks")[0]["last_ip"]
    assert last == "10.5.0.2"
    with pytest.raises(NotFound, match="network nope not found"):
        again.get("nope")
    again.close()


def test_the_database_refuses_duplicates(tmp_path: Path) -> None:
    state = NetworkState(tmp_path / "n.db")
    with state.transaction() as db:
        state.insert_network(db, network("app", "1" * 64, "capsa1"))
    with pytest.raises(AlreadyExists), state.transaction() as db:
        state.insert_network(db, network("app", "2" * 64, "capsa2"))
    with state.transaction() as db:
        state.insert_endpoint(db, endpoint("c1", "10.5.0.2", "veth1"))
    # One address twice in one network, even if the allocator erred.
    with pytest.raises(sqlite3.IntegrityError), state.transaction() as db:
        state.insert_endpoint(db, endpoint("c2", "10.5.0.2", "veth2"))
    assert len(state.endpoints()) == 1  # rolled back whole


def test_ambiguous_prefix(tmp_path: Path) -> None:
    state = NetworkState(tmp_path / "n.db")
    with state.transaction() as db:
        state.insert_network(db, network("a", "ab" + "1" * 62, "capsa1"))
        state.insert_network(db, network("b", "ab" + "2" * 62, "capsa2"))
    with pytest.raises(Conflict, match="ambiguous"):
        state.get("ab")
