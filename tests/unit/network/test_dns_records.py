from __future__ import annotations

import ipaddress

import dns.flags
import dns.message
import dns.rcode
import dns.rdatatype

from capsa.network.dns.records import answer, build_zone, error_reply
from capsa.network.model import Endpoint

IP = ipaddress.IPv4Address


def endpoint(cid: str, name: str, ip: str, aliases: tuple[str, ...] = ()) -> Endpoint:
    return Endpoint(
        cid,
        "net",
        "e",
        name,
        "eth0",
        "veth0",
        "/ns",
        IP(ip),
        "02:00:00:00:00:01",
        aliases,
        (),
        True,
    )


ZONE = build_zone(
    "app",
    [
        endpoint("a" * 64, "web", "10.1.0.2", ("db", "Cache")),
        endpoint("b" * 64, "worker", "10.1.0.3", ("db",)),
    ],
)


def ask(name: str, rdtype: str = "A") -> dns.message.Message | None:
    query = dns.message.make_query(name, rdtype)
    reply = answer(query.to_wire(), ZONE)
    return None if reply is None else dns.message.from_wire(reply)


def addresses(reply: dns.message.Message | None) -> list[str]:
    assert reply is not None
    return sorted(item.to_text() for rrset in reply.answer for item in rrset)


def test_names_aliases_and_short_ids() -> None:
    assert addresses(ask("web")) == ["10.1.0.2"]
    assert addresses(ask("WEB.")) == ["10.1.0.2"]
    assert addresses(ask("cache")) == ["10.1.0.2"]
    assert addresses(ask("a" * 12)) == ["10.1.0.2"]
    assert addresses(ask("db")) == ["10.1.0.2", "10.1.0.3"]  # an alias shared by two
    reply = ask("web")
    assert reply is not None and reply.flags & dns.flags.AA and reply.flags & dns.flags.QR


def test_known_name_other_type_is_no_data() -> None:
    reply = ask("web", "AAAA")
    assert reply is not None and reply.rcode() == dns.rcode.NOERROR and not reply.answer


def test_reverse_lookup() -> None:
    reply = ask("2.0.1.10.in-addr.arpa", "PTR")
    assert reply is not None
    assert [item.to_text() for item in reply.answer[0]] == ["web."]
    assert ask("9.0.1.10.in-addr.arpa", "PTR") is None  # not ours: forwarded


def test_unknown_names_are_forwarded_and_other_zones_know_nothing() -> None:
    assert ask("example.com") is None
    query = dns.message.make_query("web", "A")
    assert answer(query.to_wire(), None) is None
    other = build_zone("other", [endpoint("c" * 64, "api", "10.2.0.2")])
    assert answer(query.to_wire(), other) is None


def test_malformed_and_odd_messages() -> None:
    garbage = b"\x12\x34" + b"\x01\x00" + b"\x00\x01" + b"\x00" * 6 + b"\xff\xff"
    reply = answer(garbage, ZONE)
    assert reply is not None and reply[:2] == b"\x12\x34"
    assert reply[3] & 0x0F == dns.rcode.FORMERR
    assert answer(b"\x00", ZONE) is None or answer(b"\x00", ZONE) == b""
    response = dns.message.make_response(dns.message.make_query("web", "A"))
    assert answer(response.to_wire(), ZONE) == b""  # a response sent to us is dropped


def test_servfail_reply_keeps_id_and_question() -> None:
    query = dns.message.make_query("example.com", "A")
    reply = dns.message.from_wire(error_reply(query.to_wire(), dns.rcode.SERVFAIL) or b"")
    assert reply.id == query.id and reply.rcode() == dns.rcode.SERVFAIL
    assert reply.question == query.question
    assert error_reply(b"\x01", dns.rcode.SERVFAIL) is None
