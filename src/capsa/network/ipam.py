"""Address management, pure: subnets, gateways, ranges, the next free address.

What is in use comes from the state database (one row per endpoint, unique per network
and address, so two containers can never hold one address even if this code erred);
here is only the arithmetic. Addresses are handed out round-robin after the last one
given, as Docker does, so a freed address is not reused at once while peers may still
have it in their ARP caches.
"""

from __future__ import annotations

import hashlib
import ipaddress
from collections.abc import Iterable

from capsa.errors import Conflict, InvalidArgument

IPv4 = ipaddress.IPv4Address
Subnet = ipaddress.IPv4Network

# Not Docker's 172.17.0.0/16 (docker0) nor Podman's 10.88.0.0/16 (podman0) or
# 10.89.x.0/24 (its created networks): capsa runs beside both on one host, and this
# project's machines have both installed. Each candidate is also checked against the
# host's own routes and addresses before it is taken.
DEFAULT_BRIDGE_SUBNETS = tuple(Subnet(f"10.{n}.0.0/16") for n in (99, 98, 97, 96))
# Networks created without --subnet get a /24 each, as Podman gives them.
USER_POOL = Subnet("10.100.0.0/14")
USER_PREFIX = 24
MAX_PREFIX = 30  # a gateway and at least one container


def parse_subnet(text: str) -> Subnet:
    try:
        subnet = Subnet(text)
    except ValueError:
        try:
            loose = Subnet(text, strict=False)
        except ValueError:
            raise InvalidArgument(
                f"invalid subnet {text!r}", hint="give an IPv4 CIDR, e.g. 10.89.1.0/24"
            ) from None
        raise InvalidArgument(
            f"invalid subnet {text!r}: host bits are set", hint=f"it should be {loose}"
        ) from None
    if subnet.prefixlen > MAX_PREFIX:
        raise InvalidArgument(
            f"subnet {subnet} is too small", hint=f"use a prefix of /{MAX_PREFIX} or shorter"
        )
    return subnet


def parse_address(text: str, what: str) -> IPv4:
    try:
        return IPv4(text)
    except ValueError:
        raise InvalidArgument(f"invalid {what} {text!r}: not an IPv4 address") from None


def network_plan(
    subnet: Subnet, gateway: str | None, ip_range: str | None
) -> tuple[IPv4, Subnet | None]:
    """The gateway (the subnet's first address unless given) and the range, checked."""
    if gateway is None:
        gw = subnet.network_address + 1
    else:
        gw = parse_address(gateway, "gateway")
        if gw not in subnet or gw in (subnet.network_address, subnet.broadcast_address):
            raise InvalidArgument(f"gateway {gw} is not a usable address of subnet {subnet}")
    pool: Subnet | None = None
    if ip_range is not None:
        pool = parse_subnet(ip_range)
        if not pool.subnet_of(subnet):
            raise InvalidArgument(f"ip range {pool} is not inside subnet {subnet}")
    return gw, pool


def reserved(subnet: Subnet, gateway: IPv4) -> set[IPv4]:
    return {subnet.network_address, subnet.broadcast_address, gateway}


def check_requested(
    address: IPv4, subnet: Subnet, gateway: IPv4, used: Iterable[IPv4], network: str
) -> None:
    """A fixed `--ip` must be a free host address of the subnet (it may lie outside
    --ip-range, which only bounds what is handed out, as in Docker)."""
    if address not in subnet:
        raise InvalidArgument(f"address {address} is not in subnet {subnet} of network {network}")
    if address in reserved(subnet, gateway):
        raise InvalidArgument(
            f"address {address} is reserved in network {network} "
            "(the network, broadcast or gateway address)"
        )
    if address in set(used):
        raise Conflict(
            f"address {address} is already in use in network {network}",
            hint="choose another --ip or leave it out",
        )


def next_free(
    subnet: Subnet,
    gateway: IPv4,
    ip_range: Subnet | None,
    used: Iterable[IPv4],
    after: IPv4 | None,
    network: str,
) -> IPv4:
    """The first free address after `after` (wrapping), within the range if one is set."""
    pool = ip_range or subnet
    taken = {int(a) for a in used} | {int(a) for a in reserved(subnet, gateway)}
    first, last = int(pool.network_address), int(pool.broadcast_address)
    start = int(after) + 1 if after is not None and first <= int(after) < last else first
    for candidate in (*range(start, last + 1), *range(first, start)):
        if candidate not in taken:
            return IPv4(candidate)
    raise Conflict(
        f"network {network} has no free address left in {pool}",
        hint="disconnect containers or create a network with a larger subnet",
    )


def overlapping(subnet: Subnet, others: Iterable[tuple[str, Subnet]]) -> str | None:
    """The name of the first of `others` (name, subnet) that overlaps `subnet`."""
    for name, other in others:
        if subnet.overlaps(other):
            return name
    return None


def pick_subnet(candidates: Iterable[Subnet], taken: Iterable[Subnet]) -> Subnet | None:
    used = list(taken)
    for candidate in candidates:
        if not any(candidate.overlaps(t) for t in used):
            return candidate
    return None


def user_candidates() -> Iterable[Subnet]:
    return USER_POOL.subnets(new_prefix=USER_PREFIX)


def mac_for(address: IPv4) -> str:
    """A locally administered MAC derived from the address, as Docker derives its own
    (02:42:...): a reused address keeps its MAC, so stale ARP entries stay right."""
    octets = address.packed
    return "02:ca:" + ":".join(f"{b:02x}" for b in octets)


def parse_mac(text: str) -> str:
    parts = text.lower().replace("-", ":").split(":")
    if len(parts) != 6 or not all(len(p) == 2 for p in parts):
        raise InvalidArgument(f"invalid MAC address {text!r}", hint="e.g. 02:42:ac:11:00:02")
    try:
        values = [int(p, 16) for p in parts]
    except ValueError:
        raise InvalidArgument(f"invalid MAC address {text!r}") from None
    if values[0] & 1:
        raise InvalidArgument(f"MAC address {text} is a multicast address")
    return ":".join(parts)


def host_interface_name(container_id: str, network_id: str) -> str:
    """The host end of a container's veth: derived, so teardown finds it even when the
    state of a crashed setup was never written."""
    digest = hashlib.sha256(f"{container_id}/{network_id}".encode()).hexdigest()
    return f"veth{digest[:10]}"
