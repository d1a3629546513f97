"""The links: a bridge per network, a veth pair per endpoint with one end in the
container's namespace, and the sysctls they need. Callers are in the host's namespace;
everything here is undone by deleting the bridge or the host end of the veth (the peer
goes with it)."""

from __future__ import annotations

import errno
import ipaddress
import os
from pathlib import Path

from capsa.errors import AlreadyExists, CapsaError, InvalidArgument, NotFound
from capsa.network.ipam import mac_for
from capsa.network.model import Endpoint, Network
from capsa.network.netlink import Netlink, NetlinkError
from capsa.network.netns import entered

SYSCTL = Path("/proc/sys/net/ipv4")


def _sysctl(path: Path, value: str) -> None:
    """Write a sysctl of the calling thread's network namespace (/proc/sys/net follows
    the opener's namespace) unless it already has the value."""
    try:
        if path.read_text().strip() == value:
            return
        path.write_text(value + "\n")
    except OSError as error:
        raise CapsaError(f"cannot set {path} to {value}: {error.strerror}") from None


def ensure_bridge(nl: Netlink, network: Network) -> tuple[int, bool]:
    """The network's bridge, made if missing: (its index, whether it was made now)."""
    link = nl.link(network.bridge)
    created = False
    if link is None:
        try:
            index = nl.add_bridge(network.bridge, mac_for(network.gateway), network.link_mtu)
        except NetlinkError as error:
            raise CapsaError(
                f"cannot create bridge {network.bridge} of network {network.name}: {error.strerror}"
            ) from None
        created = True
    elif link.kind != "bridge":
        raise AlreadyExists(
            f"cannot use {network.bridge} for network {network.name}: the host has an "
            f"interface of that name that is not a bridge ({link.kind or 'unknown kind'})",
            hint="remove that interface or recreate the network with another "
            "com.docker.network.bridge.name",
        )
    else:
        index = link.index
    nl.add_address(index, ipaddress.IPv4Interface(f"{network.gateway}/{network.subnet.prefixlen}"))
    # Published ports answer 127.0.0.1 in the kernel: a DNAT from the loopback source
    # must be allowed to leave by the bridge (the guard rule drops the reverse abuse).
    if not network.internal:
        _sysctl(SYSCTL / "conf" / network.bridge / "route_localnet", "1")
        _sysctl(SYSCTL / "ip_forward", "1")
    if link is None or not link.up:
        nl.set_link(index, up=True, what=f"bringing bridge {network.bridge} up")
    return index, created


def remove_link(nl: Netlink, name: str) -> None:
    nl.delete_link(name)


def add_endpoint(
    nl: Netlink,
    network: Network,
    bridge_index: int,
    endpoint: Endpoint,
) -> None:
    """The veth pair: host end on the bridge, the other end made inside the container's
    namespace with its name, MAC, address and (if it carries it) the default route."""
    nl.delete_link(endpoint.host_interface)  # a crashed setup's, by its derived name
    try:
        fd = os.open(endpoint.netns, os.O_RDONLY | os.O_CLOEXEC)
    except FileNotFoundError:
        raise NotFound(f"network namespace {endpoint.netns} does not exist") from None
    try:
        index = nl.add_veth(
            endpoint.host_interface, endpoint.interface, fd, endpoint.mac, network.link_mtu
        )
    except NetlinkError as error:
        if error.errno == errno.EEXIST:
            raise AlreadyExists(
                f"cannot add {endpoint.interface} for network {network.name}: the "
                f"container's namespace already has an interface of that name",
                hint="give the attachment another interface name",
            ) from None
        if error.errno == errno.EINVAL:
            raise InvalidArgument(f"{endpoint.netns} is not a network namespace") from None
        raise
    finally:
        os.close(fd)
    nl.set_link(index, master=bridge_index, what=f"adding {endpoint.host_interface} to a bridge")
    nl.set_link(index, hairpin=True, up=True, what=f"bringing {endpoint.host_interface} up")
    with entered(endpoint.netns), Netlink() as inside:
        loopback = inside.link("lo")
        if loopback is not None and not loopback.up:
            inside.set_link(loopback.index, up=True, what="bringing lo up")
        link = inside.link(endpoint.interface)
        if link is None:
            raise CapsaError(f"{endpoint.interface} vanished from {endpoint.netns}")
        inside.add_address(
            link.index, ipaddress.IPv4Interface(f"{endpoint.ip}/{network.subnet.prefixlen}")
        )
        inside.set_link(link.index, up=True, what=f"bringing {endpoint.interface} up")
        if endpoint.gateway_route:
            inside.add_default_route(network.gateway, link.index, network.route_mtu)
