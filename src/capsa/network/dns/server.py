"""The DNS server process: UDP and TCP on port 53 of every DNS-enabled network's gateway
that has containers, answering from that network's zone and forwarding the rest.

Who runs it (there is no daemon): `setup` starts it when the first container joins a
network with DNS and it is not running; every setup, connect, disconnect and teardown
then tells it to reload through its control socket (`<run_root>/network/dns.sock`) and
waits for the answer, so a container's first query already finds its name. When a reload
finds no DNS endpoint left, it closes its sockets, removes the control socket, answers
"exit" and exits. Callers hold the host lock around this, so a start never races an
exit. It forwards from the host's namespace to the host's resolvers (loopback ones
included), or to a container's own --dns servers for that container's queries.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import ipaddress
import os
import socket
import sys
from collections.abc import Awaitable, Callable, Coroutine
from pathlib import Path
from typing import Any, cast

import dns.rcode

from capsa.network.dns.records import Zone, answer, build_zone, endpoint_names, error_reply
from capsa.network.resolv import read_resolv_conf
from capsa.network.state import NetworkState

DNS_PORT = 53
FORWARD_TIMEOUT = 2.0
IP_FREEBIND = 15


def _server_address(text: str) -> tuple[str, int] | None:
    host, _, port = text.rpartition(":") if text.count(":") == 1 else (text, "", "")
    try:
        ipaddress.IPv4Address(host)
        return host, int(port) if port else DNS_PORT
    except ValueError:
        return None


class Listener(asyncio.DatagramProtocol):
    def __init__(self, server: DnsServer, gateway: str) -> None:
        self.server = server
        self.gateway = gateway
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.DatagramTransport, transport)

    def datagram_received(self, data: bytes, addr: tuple[str | object, int]) -> None:
        client = str(addr[0])
        reply = answer(data, self.server.zone_for(client, self.gateway))
        if reply == b"":
            return
        if reply is not None:
            self._send(reply, addr)
            return
        self.server.spawn(self._forward(data, client, addr))

    async def _forward(self, data: bytes, client: str, addr: tuple[str | object, int]) -> None:
        reply = await self.server.forward_udp(data, client)
        self._send(reply, addr)

    def _send(self, reply: bytes | None, addr: tuple[str | object, int]) -> None:
        if reply and self.transport is not None and not self.transport.is_closing():
            self.transport.sendto(reply, addr)


class _Once(asyncio.DatagramProtocol):
    def __init__(self, done: asyncio.Future[bytes]) -> None:
        self.done = done

    def datagram_received(self, data: bytes, addr: tuple[str | object, int]) -> None:
        if not self.done.done():
            self.done.set_result(data)

    def error_received(self, exc: Exception) -> None:
        if not self.done.done():
            self.done.set_exception(exc)


class DnsServer:
    def __init__(self, state: Path, control: Path, resolv_conf: Path) -> None:
        self.state_path = state
        self.control_path = control
        self.resolv_conf = resolv_conf
        self.zones: dict[str, Zone] = {}  # by listening gateway
        self.client_zones: dict[str, Zone] = {}  # by container address
        self.upstreams: dict[str, tuple[str, ...]] = {}  # client address -> its --dns
        self.host_upstreams: tuple[str, ...] = ()
        self.udp: dict[str, asyncio.DatagramTransport] = {}
        self.tcp: dict[str, asyncio.base_events.Server] = {}
        self.tasks: set[asyncio.Task[None]] = set()
        self.stopping = asyncio.Event()

    def spawn(self, coroutine: Coroutine[Any, Any, None]) -> None:
        task = asyncio.ensure_future(coroutine)
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    # -- state -----------------------------------------------------------------------

    def load(self) -> None:
        state = NetworkState(self.state_path, readonly=True)
        try:
            networks = {n.id: n for n in state.networks() if n.dns}
            endpoints = [e for e in state.endpoints() if e.network_id in networks]
        finally:
            state.close()
        zones: dict[str, Zone] = {}
        upstreams: dict[str, tuple[str, ...]] = {}
        for network_id, network in networks.items():
            members = [e for e in endpoints if e.network_id == network_id]
            if members:
                zones[str(network.gateway)] = build_zone(network.name, members)
        for endpoint in endpoints:
            if endpoint.dns_servers:
                upstreams[str(endpoint.ip)] = endpoint.dns_servers
        self.zones, self.upstreams = zones, upstreams
        self.client_zones = _client_zones(networks, endpoints)
        self.host_upstreams = read_resolv_conf(self.resolv_conf).nameservers

    async def rebind(self) -> None:
        loop = asyncio.get_running_loop()
        wanted = set(self.zones)
        for gateway in list(self.udp):
            if gateway not in wanted:
                self.udp.pop(gateway).close()
                server = self.tcp.pop(gateway)
                server.close()
        for gateway in sorted(wanted - set(self.udp)):
            udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            tcp = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            try:
                for sock in (udp, tcp):
                    # Bind even while the bridge is coming up; reuse across a restart.
                    sock.setsockopt(socket.SOL_IP, IP_FREEBIND, 1)
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                    sock.bind((gateway, DNS_PORT))
                tcp.listen(64)
            except OSError as error:
                udp.close()
                tcp.close()
                raise OSError(
                    error.errno, f"cannot listen on {gateway}:53: {error.strerror}"
                ) from None
            transport, _ = await loop.create_datagram_endpoint(
                lambda g=gateway: Listener(self, g),  # type: ignore[misc]
                sock=udp,
            )
            self.udp[gateway] = transport
            self.tcp[gateway] = await asyncio.start_server(self._tcp_client(gateway), sock=tcp)

    def close_listeners(self) -> None:
        for transport in self.udp.values():
            transport.close()
        for server in self.tcp.values():
            server.close()
        self.udp.clear()
        self.tcp.clear()

    def zone_for(self, client: str, gateway: str) -> Zone | None:
        """A container resolves the names of every network it is on, as with Docker's
        127.0.0.11, whichever gateway it asks; anyone else gets that network's."""
        return self.client_zones.get(client) or self.zones.get(gateway)

    # -- forwarding ------------------------------------------------------------------

    def _upstreams(self, client: str) -> list[tuple[str, int]]:
        chosen = self.upstreams.get(client) or self.host_upstreams
        result = []
        for text in chosen:
            address = _server_address(text)
            # Never to ourselves: a loop would answer nothing, slowly.
            if address is not None and address[0] not in self.zones:
                result.append(address)
        return result

    async def forward_udp(self, query: bytes, client: str) -> bytes | None:
        loop = asyncio.get_running_loop()
        for upstream in self._upstreams(client):
            done: asyncio.Future[bytes] = loop.create_future()
            try:
                transport, _ = await loop.create_datagram_endpoint(
                    lambda done=done: _Once(done),  # type: ignore[misc]
                    remote_addr=upstream,
                )
            except OSError:
                continue
            try:
                transport.sendto(query)
                return await asyncio.wait_for(done, FORWARD_TIMEOUT)
            except (TimeoutError, OSError):
                continue
            finally:
                transport.close()
        return error_reply(query, dns.rcode.SERVFAIL)

    async def forward_tcp(self, query: bytes, client: str) -> bytes | None:
        for upstream in self._upstreams(client):
            try:
                reader, writer = await asyncio.wait_for(
                    asyncio.open_connection(*upstream), FORWARD_TIMEOUT
                )
            except (TimeoutError, OSError):
                continue
            try:
                writer.write(len(query).to_bytes(2, "big") + query)
                await writer.drain()
                size = int.from_bytes(
                    await asyncio.wait_for(reader.readexactly(2), FORWARD_TIMEOUT), "big"
                )
                return await asyncio.wait_for(reader.readexactly(size), FORWARD_TIMEOUT)
            except (TimeoutError, OSError, asyncio.IncompleteReadError):
                continue
            finally:
                writer.close()
        return error_reply(query, dns.rcode.SERVFAIL)

    def _tcp_client(
        self, gateway: str
    ) -> Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]:
        async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            client = str(writer.get_extra_info("peername")[0])
            try:
                while True:
                    header = await asyncio.wait_for(reader.readexactly(2), 30)
                    query = await reader.readexactly(int.from_bytes(header, "big"))
                    reply = answer(query, self.zone_for(client, gateway))
                    if reply is None:
                        reply = await self.forward_tcp(query, client)
                    if not reply:
                        break
                    writer.write(len(reply).to_bytes(2, "big") + reply)
                    await writer.drain()
            except (TimeoutError, OSError, asyncio.IncompleteReadError):
                pass
            finally:
                writer.close()

        return serve

    # -- control ---------------------------------------------------------------------

    def _leave(self) -> None:
        """Give up the sockets and the files before saying "exit": the caller may start
        a new server the moment it has the answer."""
        self.close_listeners()
        for path in (self.control_path, self.control_path.with_suffix(".pid")):
            with contextlib.suppress(FileNotFoundError):
                path.unlink()

    async def reload(self) -> str:
        try:
            self.load()
            if not self.zones:
                self._leave()
                return "exit"  # the control handler stops the loop once it has said so
            await self.rebind()
        except Exception as error:  # reported to the caller, who raises it
            return f"error {error}"
        return "ok"

    async def control(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        reply = ""
        try:
            line = (await asyncio.wait_for(reader.readline(), 10)).decode().strip()
            if line == "reload":
                reply = await self.reload()
            elif line == "stop":
                self._leave()
                reply = "exit"
            elif line == "ping":
                reply = "ok"
            else:
                reply = f"error unknown command {line!r}"
            writer.write(reply.encode() + b"\n")
            await writer.drain()
        except (TimeoutError, OSError):
            pass
        finally:
            writer.close()
        if reply == "exit":
            self.stopping.set()

    async def run(self, ready: Callable[[str], None]) -> None:
        first = await self.reload()
        if first != "ok":
            ready(first)
            return
        with contextlib.suppress(FileNotFoundError):
            self.control_path.unlink()
        control = await asyncio.start_unix_server(self.control, path=str(self.control_path))
        os.chmod(self.control_path, 0o600)
        self.control_path.with_suffix(".pid").write_text(f"{os.getpid()}\n")
        ready("ready")
        try:
            await self.stopping.wait()
        finally:
            control.close()
            self.close_listeners()
            # Our files, unless "exit" already removed them and a successor made its own.
            pid_path = self.control_path.with_suffix(".pid")
            with contextlib.suppress(OSError, ValueError):
                if int(pid_path.read_text()) == os.getpid():
                    self._leave()


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="capsa-dns")
    parser.add_argument("--state", required=True, type=Path)
    parser.add_argument("--control", required=True, type=Path)
    parser.add_argument("--resolv-conf", required=True, type=Path)
    options = parser.parse_args(argv)
    # Leave the caller: it waits for this process, and the server goes on as a child
    # of init (no zombie in a long-lived caller). The pipe on stdout says when it is up.
    if os.fork() != 0:
        os._exit(0)
    server = DnsServer(options.state, options.control, options.resolv_conf)

    def ready(word: str) -> None:
        sys.stdout.write(word + "\n")
        sys.stdout.flush()
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, 1)
        os.close(devnull)

    try:
        asyncio.run(server.run(ready))
    except Exception as error:
        ready(f"error {error}")
        return 1
    return 0


def _client_zones(networks: dict[str, Any], endpoints: list[Any]) -> dict[str, Zone]:
    """Container address -> the names of all its DNS networks (its networks in the
    order it joined them, so a name on two of them answers the first one's first)."""
    by_container: dict[str, list[str]] = {}
    for endpoint in endpoints:
        joined = by_container.setdefault(endpoint.container_id, [])
        if endpoint.network_id not in joined:
            joined.append(endpoint.network_id)
    zones: dict[str, Zone] = {}
    for container_id, joined in by_container.items():
        if len(joined) < 2:
            continue  # the gateway's zone is the same
        zone = Zone(",".join(networks[n].name for n in joined))
        for network_id in joined:
            for member in endpoints:
                if member.network_id == network_id:
                    zone.add(member.ip, endpoint_names(member))
        for endpoint in endpoints:
            if endpoint.container_id == container_id:
                zones[str(endpoint.ip)] = zone
    return zones
