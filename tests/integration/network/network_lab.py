"""The lab for network tests (the fixture is in conftest.py): a "host" network namespace
of the test's own where capsa does all its host-side work (bridges, nftables, DNS,
published ports), an "outside" namespace wired to it by a veth pair (another machine on
the host's LAN, 192.0.2.0/24), and "containers": namespaces made with capsa's
create_netns. Nothing touches the real host's network namespace, and everything is
removed afterwards, checked, even on failure."""

from __future__ import annotations

import contextlib
import ipaddress
import os
import secrets
import signal
import socket
import subprocess
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from capsa.config import Config
from capsa.kernel import nftables
from capsa.network.netlink import Netlink
from capsa.network.netns import create_netns, entered
from capsa.network.networks import Networks

UPLINK_HOST = ipaddress.IPv4Interface("192.0.2.1/24")
UPLINK_OUTSIDE = ipaddress.IPv4Interface("192.0.2.2/24")


@dataclass
class Lab:
    tmp: Path
    outer: Config  # where the lab's own namespaces live
    config: Config  # capsa's state under test
    host: Path
    outside: Path
    resolv_conf: Path
    networks: Networks
    containers: list[Path] = field(default_factory=list)
    threads: list[threading.Thread] = field(default_factory=list)
    _sockets: list[socket.socket] = field(default_factory=list)

    def container(self) -> Path:
        path = create_netns(self.outer, f"c-{secrets.token_hex(4)}")
        self.containers.append(path)
        return path

    def reopen(self) -> Networks:
        return Networks(self.config, host_netns=self.host, resolv_conf=self.resolv_conf)

    def sh(self, netns: Path, command: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["nsenter", f"--net={netns}", "sh", "-c", command],
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )

    def serve_tcp(self, netns: Path, port: int, address: str = "0.0.0.0") -> None:
        """A TCP server in `netns` that answers each connection with the client's
        address and closes."""
        with entered(netns):
            server = socket.socket()
            server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            server.bind((address, port))
            server.listen(16)

        def loop() -> None:
            with server:
                while True:
                    try:
                        conn, peer = server.accept()
                    except OSError:
                        return
                    with conn:
                        conn.sendall(f"{peer[0]}\n".encode())

        self._start(loop, server)

    def serve_udp_echo(self, netns: Path, port: int) -> None:
        with entered(netns):
            server = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            server.bind(("0.0.0.0", port))

        def loop() -> None:
            with server:
                while True:
                    try:
                        data, peer = server.recvfrom(2048)
                    except OSError:
                        return
                    if not data:
                        return
                    server.sendto(data + f" from {peer[0]}".encode(), peer)

        self._start(loop, server)

    def _start(self, loop: Callable[[], None], sock: socket.socket) -> None:
        thread = threading.Thread(target=loop, daemon=True)
        thread.start()
        self.threads.append(thread)
        self._sockets.append(sock)

    def ask(self, netns: Path, host: str, port: int, timeout: float = 2.0) -> str | None:
        """What a TCP server at host:port says to a client in `netns` (None: no answer)."""
        with entered(netns):
            try:
                conn = socket.create_connection((host, port), timeout=timeout)
            except OSError:
                return None
        with conn:
            conn.settimeout(timeout)
            try:
                return conn.recv(256).decode().strip()
            except OSError:
                return None

    def udp(self, netns: Path, host: str, port: int, payload: bytes) -> bytes | None:
        with entered(netns):
            sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        with sock:
            sock.settimeout(2)
            try:
                sock.sendto(payload, (host, port))
                return sock.recv(2048)
            except OSError:
                return None

    def resolve(self, netns: Path, server: str, name: str, rdtype: str = "A") -> list[str]:
        """The addresses the DNS server at `server` gives a client in `netns`."""
        import dns.message
        import dns.query
        import dns.rcode

        query = dns.message.make_query(name, rdtype)
        with entered(netns):
            sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        with sock:
            reply = dns.query.udp(query, server, timeout=5, sock=sock)
        if reply.rcode() != dns.rcode.NOERROR:
            return [dns.rcode.to_text(reply.rcode())]
        return [item.to_text() for rrset in reply.answer for item in rrset]

    def close(self) -> None:
        for sock in self._sockets:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()


def host_links(lab: Lab) -> set[str]:
    with entered(lab.host), Netlink() as nl:
        return {link.name for link in nl.links()}


def host_ruleset(lab: Lab) -> list[str]:
    with entered(lab.host):
        return [
            f"{item['table']['family']} {item['table']['name']}"
            for item in nftables.run([{"list": {"tables": {}}}])
            if "table" in item
        ]


def _kill_dns_server(lab: Lab) -> None:
    pid_file = lab.config.run_root / "network" / "dns.pid"
    with contextlib.suppress(FileNotFoundError, ValueError, ProcessLookupError):
        os.kill(int(pid_file.read_text()), signal.SIGKILL)


def _unmount_under(path: Path) -> None:
    with open("/proc/self/mounts") as mounts:
        targets = [line.split()[1] for line in mounts if line.split()[1].startswith(str(path))]
    for target in sorted(targets, reverse=True):
        subprocess.run(["umount", "-l", target], check=False)
