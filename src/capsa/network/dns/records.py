"""What the embedded DNS server knows and answers, without sockets.

A `Zone` is one network's names: each container's name, its short ID and its aliases on
that network map to its address there; addresses map back (PTR). A query the zone
cannot answer returns None and is forwarded upstream by the server. Names are matched
whole and without case, as Docker's resolver matches them.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from dataclasses import dataclass, field

import dns.exception
import dns.flags
import dns.message
import dns.name
import dns.opcode
import dns.rcode
import dns.rdataclass
import dns.rdatatype
import dns.rrset

from capsa.network.model import Endpoint

TTL = 60
SHORT_ID = 12


@dataclass
class Zone:
    network: str
    names: dict[str, list[ipaddress.IPv4Address]] = field(default_factory=dict)
    reverse: dict[ipaddress.IPv4Address, str] = field(default_factory=dict)

    def add(self, address: ipaddress.IPv4Address, names: Iterable[str]) -> None:
        first = None
        for name in names:
            key = name.lower().rstrip(".")
            if not key:
                continue
            first = first or key
            entry = self.names.setdefault(key, [])
            if address not in entry:
                entry.append(address)
        if first is not None:
            self.reverse.setdefault(address, first)


def endpoint_names(endpoint: Endpoint) -> list[str]:
    names = [endpoint.container_name] if endpoint.container_name else []
    names.append(endpoint.container_id[:SHORT_ID])
    names.extend(endpoint.aliases)
    return names


def build_zone(network: str, endpoints: Iterable[Endpoint]) -> Zone:
    zone = Zone(network)
    for endpoint in endpoints:
        zone.add(endpoint.ip, endpoint_names(endpoint))
    return zone


def _reverse_address(name: str) -> ipaddress.IPv4Address | None:
    suffix = ".in-addr.arpa"
    if not name.endswith(suffix):
        return None
    parts = name[: -len(suffix)].split(".")
    if len(parts) != 4:
        return None
    try:
        return ipaddress.IPv4Address(".".join(reversed(parts)))
    except ValueError:
        return None


def error_reply(query: bytes, rcode: dns.rcode.Rcode) -> bytes | None:
    """A reply with only the header and question of `query` and the given rcode (for a
    failed forward), or None when the query cannot even be parsed."""
    try:
        message = dns.message.from_wire(query)
    except dns.exception.DNSException:
        if len(query) < 12:
            return None
        # The header alone: echo the ID, set QR, keep RD, say FORMERR.
        flags = 0x8000 | (query[2] << 8 & 0x0100) | (rcode & 0xF)
        return query[:2] + flags.to_bytes(2, "big") + bytes(8)
    response = dns.message.make_response(message)
    response.flags |= dns.flags.RA
    response.set_rcode(rcode)
    return bytes(response.to_wire())


def answer(query: bytes, zone: Zone | None) -> bytes | None:
    """The reply to `query` from `zone`, or None to forward it upstream."""
    try:
        message = dns.message.from_wire(query)
    except dns.exception.DNSException:
        return error_reply(query, dns.rcode.FORMERR)
    if message.flags & dns.flags.QR:
        return b""  # a response sent to us: drop it
    if message.opcode() != dns.opcode.QUERY or len(message.question) != 1:
        return None
    question = message.question[0]
    if zone is None or question.rdclass != dns.rdataclass.IN:
        return None
    name = question.name.to_text(omit_final_dot=True).lower()
    response = dns.message.make_response(message)
    response.flags |= dns.flags.RA | dns.flags.AA
    addresses = zone.names.get(name)
    if addresses is not None:
        if question.rdtype in (dns.rdatatype.A, dns.rdatatype.ANY):
            rrset = dns.rrset.from_text_list(
                question.name,
                TTL,
                dns.rdataclass.IN,
                dns.rdatatype.A,
                [str(a) for a in addresses],
            )
            response.answer.append(rrset)
        # Any other type of a known name: no data, not "no such name", and not asked
        # upstream (which would leak container names out of the host).
        return bytes(response.to_wire())
    if question.rdtype == dns.rdatatype.PTR:
        address = _reverse_address(name)
        if address is not None and address in zone.reverse:
            target = dns.name.from_text(zone.reverse[address])
            response.answer.append(
                dns.rrset.from_text_list(
                    question.name,
                    TTL,
                    dns.rdataclass.IN,
                    dns.rdatatype.PTR,
                    [target.to_text()],
                )
            )
            return bytes(response.to_wire())
    return None
