"""What the network library takes and gives: plain frozen data, no I/O.

The engine says what a container wants (`Attachment`, `PortMapping`) and gets back what
it got (`NetworkStatus`): per network the interface, address, gateway, MAC and DNS server,
and the published ports with the host ports resolved.
"""

from __future__ import annotations

import ipaddress
import socket
from dataclasses import dataclass, field
from typing import Any

DEFAULT_NETWORK = "bridge"  # Docker's name for the default network
DRIVER = "bridge"
# Docker's predefined networks that are modes rather than networks: the engine handles
# them itself (no setup call), and no network may take their names.
RESERVED_NAMES = frozenset({"host", "none", "container", "default"})


# Without an `mtu` option the links carry 64 KiB frames, as pasta (Podman's rootless
# network) gives containers 65520: TCP between containers, and between a container and
# the host (published ports on localhost included), then moves in 64 KiB segments, where
# at 1500 a veth carries about half of loopback's throughput. What leaves by the default
# route keeps Docker's 1500 (a route MTU), so segments and datagrams that go out are
# sized as on Docker's bridge.
LINK_MTU = 65535
UPLINK_MTU = 1500


@dataclass(frozen=True)
class Network:
    """A network as stored: the IPv4 subnet, the bridge that carries it, its options."""

    id: str
    name: str
    bridge: str
    subnet: ipaddress.IPv4Network
    gateway: ipaddress.IPv4Address
    ip_range: ipaddress.IPv4Network | None
    internal: bool
    dns: bool  # an embedded DNS server answers on the gateway (user-defined networks)
    masquerade: bool
    mtu: int | None
    labels: dict[str, str]
    options: dict[str, str]
    created: str  # RFC 3339 with nanoseconds, as Docker prints it
    driver: str = DRIVER

    @property
    def is_default(self) -> bool:
        return self.name == DEFAULT_NETWORK

    @property
    def link_mtu(self) -> int:
        """The MTU of the bridge and of every veth on it: the user's, else the largest
        Ethernet allows."""
        return self.mtu or LINK_MTU

    @property
    def route_mtu(self) -> int | None:
        """The MTU of a container's default route, when it must be below the link's."""
        return None if self.mtu else UPLINK_MTU


@dataclass(frozen=True)
class Attachment:
    """One network a container joins: its aliases there, and optionally a fixed address,
    MAC or interface name (else the next free address, a MAC derived from the address,
    and eth0, eth1... in the order given)."""

    network: str
    aliases: tuple[str, ...] = ()
    ip: str | None = None
    mac: str | None = None
    interface: str | None = None


@dataclass(frozen=True)
class PortMapping:
    """One published port: `host_port` 0 asks for any free port; `host_ip` "" means every
    address of the host (0.0.0.0)."""

    container_port: int
    host_port: int = 0
    protocol: str = "tcp"
    host_ip: str = ""
    host_port_end: int = 0  # with host_port: take the first free port of the range


@dataclass(frozen=True)
class Endpoint:
    """A container's interface on one network, as stored."""

    container_id: str
    network_id: str
    endpoint_id: str
    container_name: str
    interface: str
    host_interface: str
    netns: str
    ip: ipaddress.IPv4Address
    mac: str
    aliases: tuple[str, ...]
    dns_servers: tuple[str, ...]
    gateway_route: bool  # whether this interface carries the container's default route


@dataclass(frozen=True)
class PublishedPort:
    """A published port as set up: where the host listens and where it forwards to."""

    container_id: str
    protocol: str
    host_ip: str  # "" for every address
    host_port: int
    container_ip: str
    container_port: int
    network_id: str


@dataclass(frozen=True)
class InterfaceStatus:
    """What a container got on one network."""

    network: str
    network_id: str
    endpoint_id: str
    interface: str  # inside the container: eth0...
    host_interface: str  # the host end of the veth pair
    address: ipaddress.IPv4Interface  # 10.89.0.2/24
    gateway: ipaddress.IPv4Address | None  # None on --internal networks
    mac: str
    dns_server: ipaddress.IPv4Address | None  # what resolv.conf should name, if any
    aliases: tuple[str, ...]

    def docker_endpoint(self) -> dict[str, Any]:
        """The container's `NetworkSettings.Networks[<name>]` entry, as Docker shows it."""
        return {
            "IPAMConfig": None,
            "Links": None,
            "Aliases": list(self.aliases) or None,
            "MacAddress": self.mac,
            "NetworkID": self.network_id,
            "EndpointID": self.endpoint_id,
            "Gateway": str(self.gateway) if self.gateway else "",
            "IPAddress": str(self.address.ip),
            "IPPrefixLen": self.address.network.prefixlen,
            "IPv6Gateway": "",
            "GlobalIPv6Address": "",
            "GlobalIPv6PrefixLen": 0,
            "DriverOpts": None,
            "DNSNames": None,
        }


@dataclass
class NetworkStatus:
    """The result of `setup`: interfaces in attachment order and the published ports.

    `reservations` are the host sockets that keep published ports taken (a listening TCP
    socket, a bound UDP socket, as Podman's conmon holds them): the engine hands them to
    the container's monitor for as long as the container lives (`fds()`), then closes its
    own copies. Packets to a published port are forwarded by the kernel before they could
    reach these sockets."""

    container_id: str
    interfaces: tuple[InterfaceStatus, ...]
    ports: tuple[PublishedPort, ...]
    reservations: list[socket.socket] = field(default_factory=list)

    def fds(self) -> list[int]:
        return [s.fileno() for s in self.reservations]

    def close_reservations(self) -> None:
        for sock in self.reservations:
            sock.close()
        self.reservations.clear()

    @property
    def dns_servers(self) -> tuple[ipaddress.IPv4Address, ...]:
        return tuple(i.dns_server for i in self.interfaces if i.dns_server is not None)

    def docker_ports(self) -> dict[str, list[dict[str, str]]]:
        """`NetworkSettings.Ports`: {"80/tcp": [{"HostIp": "0.0.0.0", "HostPort": "8080"}]}."""
        bindings: dict[str, list[dict[str, str]]] = {}
        for port in self.ports:
            key = f"{port.container_port}/{port.protocol}"
            bindings.setdefault(key, []).append(
                {"HostIp": port.host_ip or "0.0.0.0", "HostPort": str(port.host_port)}
            )
        return dict(bindings)
