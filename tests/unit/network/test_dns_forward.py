"""The DNS server's forwarding, against a fake upstream on loopback (no root)."""

from __future__ import annotations

import asyncio
import socket
from pathlib import Path

import dns.message
import dns.rcode
import dns.rrset

from capsa.network.dns.records import Zone
from capsa.network.dns.server import DnsServer


class Upstream(asyncio.DatagramProtocol):
    def __init__(self, address: str) -> None:
        self.address = address
        self.seen: list[str] = []

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport

    def datagram_received(self, data: bytes, addr: tuple[str | object, int]) -> None:
        query = dns.message.from_wire(data)
        self.seen.append(query.question[0].name.to_text())
        reply = dns.message.make_response(query)
        reply.answer.append(
            dns.rrset.from_text(query.question[0].name, 60, "IN", "A", self.address)
        )
        self.transport.sendto(reply.to_wire(), addr)  # type: ignore[attr-defined]


def free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_forwarding_to_host_and_container_upstreams(tmp_path: Path) -> None:
    async def scenario() -> None:
        loop = asyncio.get_running_loop()
        host = Upstream("192.0.2.10")
        own = Upstream("192.0.2.20")
        host_t, _ = await loop.create_datagram_endpoint(lambda: host, local_addr=("127.0.0.1", 0))
        own_t, _ = await loop.create_datagram_endpoint(lambda: own, local_addr=("127.0.0.1", 0))
        host_port = host_t.get_extra_info("sockname")[1]
        own_port = own_t.get_extra_info("sockname")[1]
        dead = free_udp_port()
        server = DnsServer(tmp_path / "db", tmp_path / "sock", tmp_path / "resolv")
        server.zones = {"10.1.0.1": Zone("app")}
        # A dead resolver first, then a live one; the gateway itself is never asked.
        server.host_upstreams = (f"127.0.0.1:{dead}", "10.1.0.1", f"127.0.0.1:{host_port}")
        server.upstreams = {"10.1.0.7": (f"127.0.0.1:{own_port}",)}
        query = dns.message.make_query("example.test", "A").to_wire()
        import capsa.network.dns.server as module

        module.FORWARD_TIMEOUT = 0.5
        reply = await server.forward_udp(query, "10.1.0.5")
        assert reply is not None
        assert dns.message.from_wire(reply).answer[0][0].to_text() == "192.0.2.10"
        reply = await server.forward_udp(query, "10.1.0.7")  # its own --dns
        assert reply is not None
        assert dns.message.from_wire(reply).answer[0][0].to_text() == "192.0.2.20"
        server.host_upstreams = (f"127.0.0.1:{dead}",)
        reply = await server.forward_udp(query, "10.1.0.5")
        assert reply is not None
        assert dns.message.from_wire(reply).rcode() == dns.rcode.SERVFAIL
        assert host.seen == ["example.test."] and own.seen == ["example.test."]
        host_t.close()
        own_t.close()

    asyncio.run(scenario())
