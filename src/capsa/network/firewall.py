"""The nftables rules of capsa, in capsa's own table `ip capsa`, never touching another.

The table is generated whole from the state when networks come and go (`ruleset`): nft
applies a batch all or nothing, so "delete the table and make it again" has no window
where half the rules are there, needs no rule handles, and heals whatever a crashed
capsa left behind. Published ports are elements of two maps, added and deleted one
container at a time (`port_elements`): a container start adds elements only, and nft
commands that delete anything wait for an RCU grace period (~8 ms here) when their
socket closes, so a container without ports costs no nft work at all. Other tools' tables
(Docker's, Podman's `netavark`, the host's firewall) are never read nor written; a
packet must pass every base chain at a hook, so capsa's drops isolate its own networks
and its accepts never open anything someone else closed.

What the rules do, per network (inert while its bridge does not exist):
- outbound NAT: masquerade what leaves the subnet by another interface (not --internal);
- --internal: nothing enters or leaves the bridge except to the host itself;
- isolation: no forwarding from one capsa bridge to another, except to a published port;
- published ports: DNAT in prerouting (other hosts and namespaces: the client's source
  address is kept) and in output (the host itself, 127.0.0.1 included: with
  route_localnet on the bridge and the 127/8 source masqueraded, as Docker does without
  its userland proxy); a container reaching a published port of its own network through
  the host is masqueraded (hairpin), or the reply would skip the NAT;
- a guard against packets from a bridge addressed to 127/8 (route_localnet would
  otherwise let a container reach the host's loopback services).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from capsa.network.model import PublishedPort

FAMILY = "ip"
TABLE = "capsa"
LOOPBACK = {"prefix": {"addr": "127.0.0.0", "len": 8}}


@dataclass(frozen=True)
class FirewallNetwork:
    bridge: str
    subnet: str  # CIDR
    internal: bool
    masquerade: bool


def _meta(key: str, value: str, op: str = "==") -> dict[str, Any]:
    return {"match": {"op": op, "left": {"meta": {"key": key}}, "right": value}}


def _payload(protocol: str, fieldname: str, value: Any, op: str = "==") -> dict[str, Any]:
    return {
        "match": {
            "op": op,
            "left": {"payload": {"protocol": protocol, "field": fieldname}},
            "right": value,
        }
    }


def _prefix(cidr: str) -> dict[str, Any]:
    addr, _, length = cidr.partition("/")
    return {"prefix": {"addr": addr, "len": int(length)}}


def _ct_dnat() -> dict[str, Any]:
    return {"match": {"op": "in", "left": {"ct": {"key": "status"}}, "right": "dnat"}}


def _chain(
    name: str, hook: str | None = None, kind: str = "filter", prio: int = 0
) -> dict[str, Any]:
    chain: dict[str, Any] = {"family": FAMILY, "table": TABLE, "name": name}
    if hook is not None:
        chain.update({"type": kind, "hook": hook, "prio": prio, "policy": "accept"})
    return {"add": {"chain": chain}}


def _rule(chain: str, *expr: dict[str, Any]) -> dict[str, Any]:
    return {"add": {"rule": {"family": FAMILY, "table": TABLE, "chain": chain, "expr": list(expr)}}}


def _table(verb: str) -> dict[str, Any]:
    return {verb: {"table": {"family": FAMILY, "name": TABLE}}}


def _port_key(port: PublishedPort) -> tuple[str, dict[str, Any]]:
    if port.host_ip:
        return "ip", {"concat": [port.host_ip, port.protocol, port.host_port]}
    return "any", {"concat": [port.protocol, port.host_port]}


def port_elements(verb: str, ports: Sequence[PublishedPort]) -> list[dict[str, Any]]:
    """Add ("add") or remove ("delete") the DNAT map elements of published ports."""
    by_map: dict[str, list[Any]] = {}
    for port in ports:
        kind, key = _port_key(port)
        for part, value in (("addr", port.container_ip), ("port", port.container_port)):
            item: Any = [key, value] if verb == "add" else key
            by_map.setdefault(f"{kind}_{part}", []).append(item)
    return [
        {verb: {"element": {"family": FAMILY, "table": TABLE, "name": name, "elem": elems}}}
        for name, elems in sorted(by_map.items())
    ]


def reset_commands() -> list[dict[str, Any]]:
    """Remove capsa's table if it is there (add first: deleting a missing table fails)."""
    return [_table("add"), _table("delete")]


def ruleset(
    networks: Sequence[FirewallNetwork], ports: Iterable[PublishedPort]
) -> list[dict[str, Any]]:
    """The whole batch: drop the old table, make the new one. No network: no table."""
    commands = reset_commands()
    if not networks:
        return commands
    bridges = sorted(n.bridge for n in networks)
    commands += [
        _table("add"),
        {
            "add": {
                "set": {
                    "family": FAMILY,
                    "table": TABLE,
                    "name": "bridges",
                    "type": "ifname",
                    "elem": bridges,
                }
            }
        },
        _chain("guard", "prerouting", "filter", -300),
        _chain("prerouting", "prerouting", "nat", -100),
        _chain("output", "output", "nat", -100),
        _chain("postrouting", "postrouting", "nat", 100),
        _chain("forward", "forward", "filter", 0),
        _chain("published"),
    ]
    local = {
        "match": {
            "op": "==",
            "left": {"fib": {"result": "type", "flags": ["daddr"]}},
            "right": "local",
        }
    }
    commands += [
        _rule(
            "guard", _meta("iifname", "@bridges"), _payload("ip", "daddr", LOOPBACK), {"drop": None}
        ),
        _rule("prerouting", local, {"jump": {"target": "published"}}),
        _rule("output", local, {"jump": {"target": "published"}}),
    ]
    # Two maps per kind of key, one for the address and one for the port: nft 1.0.6's
    # JSON cannot declare a map whose data is a concatenation (address . port).
    keys = {
        "ip": ["ipv4_addr", "inet_proto", "inet_service"],
        "any": ["inet_proto", "inet_service"],
    }
    for kind, key in keys.items():
        for part, data in (("addr", "ipv4_addr"), ("port", "inet_service")):
            commands.append(
                {
                    "add": {
                        "map": {
                            "family": FAMILY,
                            "table": TABLE,
                            "name": f"{kind}_{part}",
                            "type": key,
                            "map": data,
                        }
                    }
                }
            )
    l4 = [{"meta": {"key": "l4proto"}}, {"payload": {"protocol": "th", "field": "dport"}}]
    daddr = {"payload": {"protocol": "ip", "field": "daddr"}}
    for kind, key_expr in (("ip", [daddr, *l4]), ("any", l4)):
        # A key missing from the maps ends the rule, not the chain.
        lookup = {"concat": key_expr}
        commands.append(
            _rule(
                "published",
                {
                    "dnat": {
                        "family": FAMILY,
                        "addr": {"map": {"key": lookup, "data": f"@{kind}_addr"}},
                        "port": {"map": {"key": lookup, "data": f"@{kind}_port"}},
                    }
                },
            )
        )
    commands += port_elements("add", list(ports))
    internal = [n for n in networks if n.internal]
    external = [n for n in networks if not n.internal]
    for net in internal:
        commands += [
            _rule(
                "forward",
                _meta("iifname", net.bridge),
                _meta("oifname", net.bridge, "!="),
                {"drop": None},
            ),
            _rule(
                "forward",
                _meta("oifname", net.bridge),
                _meta("iifname", net.bridge, "!="),
                {"drop": None},
            ),
        ]
    commands.append(_rule("forward", _ct_dnat(), {"accept": None}))
    for net in external:
        commands.append(
            _rule(
                "forward",
                _meta("iifname", net.bridge),
                _meta("oifname", net.bridge, "!="),
                _meta("oifname", "@bridges"),
                {"drop": None},
            )
        )
        if net.masquerade:
            commands.append(
                _rule(
                    "postrouting",
                    _payload("ip", "saddr", _prefix(net.subnet)),
                    _meta("oifname", net.bridge, "!="),
                    {"masquerade": None},
                )
            )
        commands += [
            _rule(
                "postrouting",
                _meta("oifname", net.bridge),
                _payload("ip", "saddr", LOOPBACK),
                {"masquerade": None},
            ),
            _rule(
                "postrouting",
                _meta("oifname", net.bridge),
                _ct_dnat(),
                _payload("ip", "saddr", _prefix(net.subnet)),
                {"masquerade": None},
            ),
        ]
    return commands
