"""Rule generation: what goes into nft, checked as data (no kernel)."""

from __future__ import annotations

import json
from typing import Any

from capsa.network.firewall import (
    FirewallNetwork,
    port_elements,
    reset_commands,
    ruleset,
)
from capsa.network.model import PublishedPort

OPEN = FirewallNetwork("capsa1", "10.100.0.0/24", internal=False, masquerade=True)
SEALED = FirewallNetwork("capsa2", "10.100.1.0/24", internal=True, masquerade=True)
PORTS = [
    PublishedPort("c", "tcp", "", 8080, "10.100.0.2", 80, "n"),
    PublishedPort("c", "udp", "127.0.0.1", 5353, "10.100.0.2", 53, "n"),
]


def rules(commands: list[dict[str, Any]], chain: str) -> list[str]:
    """The rules of one chain, as compact JSON of their expressions."""
    return [
        json.dumps(c["add"]["rule"]["expr"], sort_keys=True)
        for c in commands
        if "rule" in c.get("add", {}) and c["add"]["rule"]["chain"] == chain
    ]


def test_everything_is_in_capsas_own_table() -> None:
    for command in ruleset([OPEN, SEALED], PORTS) + port_elements("add", PORTS):
        ((_verb, body),) = command.items()
        ((kind, obj),) = body.items()
        if kind == "table":
            assert obj == {"family": "ip", "name": "capsa"}
        else:
            assert (obj["family"], obj["table"]) == ("ip", "capsa"), command
    # The rebuild starts by removing only capsa's table, whether or not it is there.
    assert (
        ruleset([OPEN], [])[:2]
        == reset_commands()
        == [
            {"add": {"table": {"family": "ip", "name": "capsa"}}},
            {"delete": {"table": {"family": "ip", "name": "capsa"}}},
        ]
    )


def test_no_network_no_table() -> None:
    assert ruleset([], []) == reset_commands()


def test_masquerade_only_for_networks_that_go_out() -> None:
    post = rules(ruleset([OPEN, SEALED], []), "postrouting")
    outbound = [r for r in post if '"!="' in r]
    assert len(outbound) == 1 and "10.100.0.0" in outbound[0] and "capsa1" in outbound[0]
    assert not any("10.100.1.0" in r for r in post)  # nothing for the internal network
    no_nat = FirewallNetwork("capsa3", "10.100.2.0/24", internal=False, masquerade=False)
    assert not any('"!="' in r for r in rules(ruleset([no_nat], []), "postrouting"))


def test_internal_networks_are_sealed_and_others_isolated() -> None:
    forward = rules(ruleset([OPEN, SEALED], []), "forward")
    # Internal drops come first, then published ports are let through, then isolation.
    assert "capsa2" in forward[0] and '"drop": null' in forward[0]
    assert "capsa2" in forward[1] and '"drop": null' in forward[1]
    assert '"accept": null' in forward[2] and "dnat" in forward[2]
    assert "capsa1" in forward[3] and "@bridges" in forward[3]
    bridges = next(
        c["add"]["set"] for c in ruleset([OPEN, SEALED], []) if "set" in c.get("add", {})
    )
    assert bridges["elem"] == ["capsa1", "capsa2"]


def test_loopback_guard_and_published_chain_hooks() -> None:
    commands = ruleset([OPEN], [])
    chains = {
        c["add"]["chain"]["name"]: c["add"]["chain"]
        for c in commands
        if "chain" in c.get("add", {})
    }
    assert chains["guard"]["hook"] == "prerouting" and chains["guard"]["prio"] == -300
    assert chains["prerouting"]["type"] == "nat" and chains["output"]["hook"] == "output"
    assert "127.0.0.0" in rules(commands, "guard")[0]
    assert all("published" in r for r in rules(commands, "prerouting") + rules(commands, "output"))


def test_port_elements() -> None:
    added = port_elements("add", PORTS)
    by_map = {c["add"]["element"]["name"]: c["add"]["element"]["elem"] for c in added}
    assert by_map["any_addr"] == [[{"concat": ["tcp", 8080]}, "10.100.0.2"]]
    assert by_map["any_port"] == [[{"concat": ["tcp", 8080]}, 80]]
    assert by_map["ip_addr"] == [[{"concat": ["127.0.0.1", "udp", 5353]}, "10.100.0.2"]]
    assert by_map["ip_port"] == [[{"concat": ["127.0.0.1", "udp", 5353]}, 53]]
    deleted = port_elements("delete", PORTS)
    keys = {c["delete"]["element"]["name"]: c["delete"]["element"]["elem"] for c in deleted}
    assert keys["any_addr"] == [{"concat": ["tcp", 8080]}]
    assert port_elements("add", []) == []
    # A full rebuild carries the elements of every published port.
    assert all(command in ruleset([OPEN], PORTS) for command in added)
