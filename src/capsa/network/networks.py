"""`Networks`: the one object the engine and `capsa network` use.

Networks are rows in the state database. A network's bridge is made by the first
container that joins it (or again after a reboot) and stays until the network is removed,
as docker0 and Docker's bridges do: making and deleting a bridge costs tens of
milliseconds (the kernel waits for an RCU grace period to unregister a device), which
`capsa run --rm` would otherwise pay twice. Its firewall rules live in capsa's own
nftables table while the network exists.

Host-side work (links, nftables, the DNS server, port sockets) runs under a host lock
(`<run_root>/network/lock`, flock) so that two capsa processes never interleave it, and
inside the host's network namespace: the one the process is in, or `host_netns` (how
tests and benchmarks run all of it in a namespace of their own).

Every setup writes its endpoints (addresses, names) first, then makes the links and
rules; if anything fails, the same teardown that removes a container removes what was
made, so a failed setup leaves nothing. Teardown deletes by what the state says and by
derived names, ignores what is already gone, and can run any number of times.
"""

from __future__ import annotations

import contextlib
import fcntl
import ipaddress
import os
import re
import secrets
import sqlite3
import threading
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from capsa.config import Config
from capsa.errors import (
    AlreadyExists,
    CapsaError,
    Conflict,
    InvalidArgument,
    NotFound,
    Unavailable,
)
from capsa.network import firewall, ipam
from capsa.network.dns.control import DnsControl
from capsa.network.documents import inspect_document
from capsa.network.model import (
    DEFAULT_NETWORK,
    DRIVER,
    RESERVED_NAMES,
    Attachment,
    Endpoint,
    InterfaceStatus,
    Network,
    NetworkStatus,
    PortMapping,
    PublishedPort,
)
from capsa.network.netlink import Netlink
from capsa.network.netns import entered, remove_netns_dir
from capsa.network.plumbing import add_endpoint, ensure_bridge
from capsa.network.ports import check_no_duplicates
from capsa.network.reservations import reserve
from capsa.network.resolv import HOST_RESOLV_CONF
from capsa.network.state import NetworkState

NAME = re.compile(r"^[a-zA-Z0-9][a-zA-Z0-9_.-]*$")
INTERFACE = re.compile(r"^[a-zA-Z0-9_.-]{1,15}$")
BRIDGE_PREFIX = "capsa"
OPT_BRIDGE_NAME = "com.docker.network.bridge.name"
OPT_MTU = "com.docker.network.driver.mtu"
OPT_MASQUERADE = "com.docker.network.bridge.enable_ip_masquerade"
OPTION_ALIASES = {"mtu": OPT_MTU, "bridge_name": OPT_BRIDGE_NAME}


def _now() -> str:
    """RFC 3339 with nanoseconds, UTC, as Docker prints `Created`."""
    ns = time.time_ns()
    seconds, nanos = divmod(ns, 1_000_000_000)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds)) + f".{nanos:09d}Z"


def _bool_option(key: str, value: str) -> bool:
    lowered = value.lower()
    if lowered in ("true", "1", "yes"):
        return True
    if lowered in ("false", "0", "no"):
        return False
    raise InvalidArgument(f"invalid value {value!r} of option {key}", hint="true or false")


def validate_name(name: str) -> None:
    if not NAME.match(name):
        raise InvalidArgument(
            f"invalid network name {name!r}",
            hint="use letters, digits, '_', '.' and '-', starting with a letter or digit",
        )
    if name in RESERVED_NAMES:
        raise InvalidArgument(
            f"network name {name} is reserved (a network mode, not a network)",
            hint="choose another name",
        )


class Networks:
    """Networks and container endpoints on one host, for one capsa `Config`."""

    def __init__(
        self,
        config: Config,
        *,
        host_netns: str | os.PathLike[str] | None = None,
        resolv_conf: Path = HOST_RESOLV_CONF,
    ) -> None:
        self.config = config
        self.state_path = config.root / "networks" / "networks.db"
        self.run_dir = config.run_root / "network"
        self.host_netns = os.fspath(host_netns) if host_netns is not None else None
        self.state = NetworkState(self.state_path)
        self.dns = DnsControl(self.run_dir, self.state_path, resolv_conf)
        self._local = threading.local()

    def close(self) -> None:
        self.state.close()

    def __enter__(self) -> Networks:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextlib.contextmanager
    def _host(self) -> Iterator[None]:
        """The host lock, in the host's namespace (re-entrant within a thread)."""
        depth = getattr(self._local, "depth", 0)
        if depth:
            self._local.depth = depth + 1
            try:
                yield
            finally:
                self._local.depth = depth
            return
        self.run_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd = os.open(self.run_dir / "lock", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            with entered(self.host_netns):
                self._local.depth = 1
                try:
                    yield
                finally:
                    self._local.depth = 0
        finally:
            os.close(fd)  # drops the lock

    # -- networks ------------------------------------------------------------------------

    def list_networks(self) -> list[Network]:
        self.default()
        return self.state.networks()

    def get(self, name: str) -> Network:
        if name == DEFAULT_NETWORK:
            return self.default()
        return self.state.get(name)

    def default(self) -> Network:
        """The default network `bridge`, made on first use."""
        found = self.state.find(DEFAULT_NETWORK)
        if found is not None:
            return found
        try:
            return self._create(
                DEFAULT_NETWORK,
                candidates=ipam.DEFAULT_BRIDGE_SUBNETS,
                bridge=f"{BRIDGE_PREFIX}0",
                dns=False,
                options={
                    "com.docker.network.bridge.default_bridge": "true",
                    "com.docker.network.bridge.enable_icc": "true",
                    OPT_MASQUERADE: "true",
                    "com.docker.network.bridge.host_binding_ipv4": "0.0.0.0",
                    OPT_BRIDGE_NAME: f"{BRIDGE_PREFIX}0",
                },
            )
        except AlreadyExists:  # another process made it first
            return self.state.get(DEFAULT_NETWORK)

    def create(
        self,
        name: str,
        *,
        driver: str = DRIVER,
        subnet: str | None = None,
        gateway: str | None = None,
        ip_range: str | None = None,
        internal: bool = False,
        labels: dict[str, str] | None = None,
        options: dict[str, str] | None = None,
    ) -> Network:
        validate_name(name)
        if driver != DRIVER:
            raise InvalidArgument(
                f"network driver {driver!r} is not supported", hint="capsa has -d bridge"
            )
        if name == DEFAULT_NETWORK:
            raise AlreadyExists(f"network with name {name} already exists")
        if (gateway or ip_range) and not subnet:
            raise InvalidArgument("--gateway and --ip-range need --subnet")
        given = None
        if subnet is not None:
            given = ipam.parse_subnet(subnet)
            ipam.network_plan(given, gateway, ip_range)  # validate before anything
        return self._create(
            name,
            subnet=given,
            gateway=gateway,
            ip_range=ip_range,
            internal=internal,
            dns=True,
            labels=labels or {},
            options=options or {},
        )

    def _options(
        self, options: dict[str, str]
    ) -> tuple[dict[str, str], str | None, int | None, bool]:
        normalized: dict[str, str] = {}
        for key, value in options.items():
            normalized[OPTION_ALIASES.get(key, key)] = value
        known = {
            OPT_BRIDGE_NAME,
            OPT_MTU,
            OPT_MASQUERADE,
            "com.docker.network.bridge.default_bridge",
            "com.docker.network.bridge.enable_icc",
            "com.docker.network.bridge.host_binding_ipv4",
        }
        unknown = sorted(set(normalized) - known)
        if unknown:
            shown = sorted(known - {"com.docker.network.bridge.default_bridge"})
            raise InvalidArgument(
                f"unsupported network option {unknown[0]}",
                hint=f"supported: {', '.join(shown)}, mtu, bridge_name",
            )
        bridge = normalized.get(OPT_BRIDGE_NAME)
        if bridge is not None and not INTERFACE.match(bridge):
            raise InvalidArgument(f"invalid bridge name {bridge!r}", hint="at most 15 characters")
        mtu = None
        if OPT_MTU in normalized:
            try:
                mtu = int(normalized[OPT_MTU])
            except ValueError:
                mtu = 0
            if not 68 <= mtu <= 65535:
                raise InvalidArgument(f"invalid MTU {normalized[OPT_MTU]!r}", hint="68 to 65535")
        masquerade = _bool_option(OPT_MASQUERADE, normalized.get(OPT_MASQUERADE, "true"))
        return normalized, bridge, mtu, masquerade

    def _host_subnets(self) -> tuple[list[tuple[str, ipaddress.IPv4Network]], set[str]]:
        """Routes and addresses of the host that are not capsa's: (owner, subnet) pairs,
        and the names of the host's interfaces."""
        with self._host(), Netlink() as nl:
            links = {link.index: link.name for link in nl.links()}
            ours = {n.bridge for n in self.state.networks()}
            found: list[tuple[str, ipaddress.IPv4Network]] = []
            for route in nl.routes():
                name = links.get(route.oif or -1, "?")
                if name in ours or name == "lo" or route.destination.prefixlen == 0:
                    continue
                found.append((f"the host's route via {name}", route.destination))
            for address in nl.addresses():
                name = links.get(address.index, "?")
                if name in ours or address.interface.ip.is_loopback:
                    continue
                found.append((f"the host's interface {name}", address.interface.network))
        return found, set(links.values())

    def _create(
        self,
        name: str,
        *,
        subnet: ipaddress.IPv4Network | None = None,
        candidates: Sequence[ipaddress.IPv4Network] = (),
        gateway: str | None = None,
        ip_range: str | None = None,
        internal: bool = False,
        dns: bool = True,
        bridge: str | None = None,
        labels: dict[str, str] | None = None,
        options: dict[str, str] | None = None,
    ) -> Network:
        options, bridge_option, mtu, masquerade = self._options(options or {})
        bridge = bridge_option or bridge
        host_used, host_links = self._host_subnets()
        with self._host():
            try:
                with self.state.transaction() as db:
                    existing = self.state.networks()
                    if any(n.name == name for n in existing):
                        raise AlreadyExists(
                            f"network with name {name} already exists",
                            hint="choose another name or remove it first (capsa network rm)",
                        )
                    taken = [(f"network {n.name}", n.subnet) for n in existing]
                    if subnet is None:
                        pool = candidates or list(ipam.user_candidates())
                        subnet = ipam.pick_subnet(
                            pool, [s for _, s in taken] + [s for _, s in host_used]
                        )
                        if subnet is None:
                            raise Conflict(
                                "no free subnet is left for a new network",
                                hint="give one with --subnet",
                            )
                    else:
                        other = ipam.overlapping(subnet, taken + host_used)
                        if other is not None:
                            raise Conflict(
                                f"subnet {subnet} overlaps {other}",
                                hint="choose another --subnet",
                            )
                    gw, pool_range = ipam.network_plan(subnet, gateway, ip_range)
                    bridges = {n.bridge for n in existing}
                    if bridge is None:
                        number = 1
                        while f"{BRIDGE_PREFIX}{number}" in bridges | host_links:
                            number += 1
                        bridge = f"{BRIDGE_PREFIX}{number}"
                    elif bridge in bridges:
                        raise AlreadyExists(f"bridge {bridge} is used by another network")
                    network = Network(
                        id=secrets.token_hex(32),
                        name=name,
                        bridge=bridge,
                        subnet=subnet,
                        gateway=gw,
                        ip_range=pool_range,
                        internal=internal,
                        dns=dns,
                        masquerade=masquerade,
                        mtu=mtu,
                        labels=dict(labels or {}),
                        options=options,
                        created=_now(),
                    )
                    self.state.insert_network(db, network)
            except sqlite3.IntegrityError:
                raise AlreadyExists(f"network with name {name} already exists") from None
            try:
                self._sync_firewall()
            except BaseException:
                with self.state.transaction() as db:
                    db.execute("DELETE FROM networks WHERE id = ?", (network.id,))
                with contextlib.suppress(CapsaError, OSError):
                    self._sync_firewall()
                raise
        return network

    def inspect(self, name: str) -> dict[str, Any]:
        network = self.get(name)
        return inspect_document(network, self.state.endpoints(network_id=network.id))

    def remove(self, name: str) -> Network:
        network = self.get(name)
        if network.is_default:
            raise Conflict(f"{DEFAULT_NETWORK} is a pre-defined network and cannot be removed")
        with self._host():
            users: list[Endpoint] = self.state.endpoints(network_id=network.id)
            if users:
                raise Conflict(
                    f"network {network.name} has active endpoints "
                    f"({', '.join(e.container_name or e.container_id[:12] for e in users)})",
                    hint="disconnect or remove those containers first",
                )
            with self.state.transaction() as db:
                db.execute("DELETE FROM networks WHERE id = ?", (network.id,))
            with Netlink() as nl:
                nl.delete_link(network.bridge)
            self._sync_firewall()
        return network

    def prune(self, labels: Sequence[str] = ()) -> list[str]:
        """Remove user-defined networks without endpoints (and with all `labels`:
        `key` or `key=value`, `label!=...` to exclude)."""
        removed = []
        for network in self.list_networks():
            if network.is_default or not _labels_match(network, labels):
                continue
            try:
                self.remove(network.id)
            except (Conflict, NotFound):
                continue
            removed.append(network.name)
        return removed

    # -- containers ----------------------------------------------------------------------

    def setup(
        self,
        container_id: str,
        netns_path: str | os.PathLike[str],
        attachments: Sequence[Attachment],
        ports: Sequence[PortMapping] = (),
        *,
        container_name: str = "",
        dns_servers: Sequence[str] = (),
    ) -> NetworkStatus:
        """Join the container (whose network namespace is at `netns_path`) to its
        networks and publish its ports; see NetworkStatus for what comes back."""
        netns = os.fspath(netns_path)
        if not attachments:
            raise InvalidArgument("a container needs at least one network to set up")
        self._check_netns(netns)
        names = [a.network for a in attachments]
        networks = [self.get(n) for n in names]
        if len({n.id for n in networks}) != len(networks):
            raise InvalidArgument(f"a network is given twice: {', '.join(names)}")
        check_no_duplicates(list(ports))
        servers = [str(ipam.parse_address(s, "DNS server")) for s in dns_servers]
        if ports and all(n.internal for n in networks):
            raise InvalidArgument(
                "cannot publish ports of a container that is only on internal networks",
                hint="attach it to a network that is not --internal too",
            )
        reservations: list[Any] = []
        with self._host():
            if self.state.endpoints(container_id=container_id):
                raise AlreadyExists(
                    f"container {container_id[:12]} already has networks set up",
                    hint="tear them down first (a crashed run: teardown, then setup)",
                )
            try:
                published = self.state.ports()
                chosen: list[tuple[PortMapping, int]] = []
                for mapping in ports:
                    port, sock = reserve(mapping, published)
                    reservations.append(sock)
                    chosen.append((mapping, port))
                endpoints = self._allocate(
                    container_id,
                    netns,
                    container_name,
                    list(zip(attachments, networks, strict=True)),
                    servers,
                )
                target = next(
                    (e for e, n in zip(endpoints, networks, strict=True) if not n.internal),
                    None,
                )
                port_rows = [
                    PublishedPort(
                        container_id,
                        m.protocol,
                        m.host_ip,
                        port,
                        str(target.ip),
                        m.container_port,
                        target.network_id,
                    )
                    for m, port in chosen
                    if target is not None
                ]
                self._insert_ports(port_rows)
                created = self._plumb(endpoints)
                self._publish(port_rows, full=created)
                self._sync_dns()
            except BaseException:
                for sock in reservations:
                    sock.close()
                with contextlib.suppress(CapsaError, OSError):
                    self._teardown(container_id)
                raise
        status = self.status(container_id)
        status.reservations = reservations
        return status

    def connect(
        self,
        container_id: str,
        netns_path: str | os.PathLike[str],
        attachment: Attachment,
        *,
        container_name: str = "",
        dns_servers: Sequence[str] = (),
    ) -> InterfaceStatus:
        """Join a running container to one more network (`capsa network connect`)."""
        netns = os.fspath(netns_path)
        self._check_netns(netns)
        network = self.get(attachment.network)
        servers = [str(ipam.parse_address(s, "DNS server")) for s in dns_servers]
        with self._host():
            existing = self.state.endpoints(container_id=container_id)
            if any(e.network_id == network.id for e in existing):
                raise Conflict(
                    f"container {container_id[:12]} is already connected to network {network.name}"
                )
            name = container_name or (existing[0].container_name if existing else "")
            servers = servers or list(existing[0].dns_servers if existing else ())
            used = {e.interface for e in existing}
            interface = attachment.interface
            if interface is None:
                number = 0
                while f"eth{number}" in used:
                    number += 1
                interface = f"eth{number}"
            chosen = Attachment(
                attachment.network, attachment.aliases, attachment.ip, attachment.mac, interface
            )
            has_route = any(e.gateway_route for e in existing)
            endpoints = self._allocate(
                container_id,
                netns,
                name,
                [(chosen, network)],
                servers,
                route_taken=has_route,
                first_interface=len(existing),
            )
            try:
                created = self._plumb(endpoints)
                if created:
                    self._sync_firewall()
                self._sync_dns()
            except BaseException:
                with contextlib.suppress(CapsaError, OSError):
                    self._disconnect(container_id, network)
                raise
        return next(i for i in self.status(container_id).interfaces if i.network_id == network.id)

    def disconnect(self, container_id: str, network_name: str) -> None:
        network = self.get(network_name)
        with self._host():
            if not any(
                e.network_id == network.id for e in self.state.endpoints(container_id=container_id)
            ):
                raise NotFound(
                    f"container {container_id[:12]} is not connected to network {network.name}"
                )
            self._disconnect(container_id, network)

    def teardown(
        self,
        container_id: str,
        netns_path: str | os.PathLike[str] | None = None,
        *,
        delete_links: bool = True,
    ) -> None:
        """Remove every trace of the container's networking: veths, its addresses,
        published ports and rules, DNS names. Idempotent; safe after a crash.

        `delete_links=False` leaves the veths to the kernel: for a caller that removes
        the container's namespace next and knows nothing else holds it, the kernel
        destroys every veth pair with the namespace, in the background, instead of the
        ~20 ms a synchronous delete waits for the RCU grace period."""
        del netns_path  # the veths are found by name; a gone namespace took its ends
        with self._host():
            self._teardown(container_id, delete_links=delete_links)

    def status(self, container_id: str) -> NetworkStatus:
        """What the container has now (without port reservations: those only `setup`
        returns): for `capsa port`, inspect, and /etc/hosts after connect."""
        networks = {n.id: n for n in self.state.networks()}
        interfaces = []
        for e in self.state.endpoints(container_id=container_id):
            network = networks[e.network_id]
            interfaces.append(
                InterfaceStatus(
                    network=network.name,
                    network_id=network.id,
                    endpoint_id=e.endpoint_id,
                    interface=e.interface,
                    host_interface=e.host_interface,
                    address=ipaddress.IPv4Interface(f"{e.ip}/{network.subnet.prefixlen}"),
                    gateway=None if network.internal else network.gateway,
                    mac=e.mac,
                    dns_server=network.gateway if network.dns else None,
                    aliases=e.aliases,
                )
            )
        return NetworkStatus(
            container_id, tuple(interfaces), tuple(self.state.ports(container_id=container_id))
        )

    def containers(self) -> list[str]:
        """IDs of the containers that have endpoints (the engine checks them against the
        containers it knows, to tear down what a crash left)."""
        return sorted({e.container_id for e in self.state.endpoints()})

    def reset(self) -> None:
        """Remove everything of capsa's networking on this host: the DNS server, every
        endpoint's veth, every bridge, the nftables table, the state and the network
        namespaces under the run root (`capsa system reset`)."""
        with self._host():
            self.dns.stop()
            endpoints = self.state.endpoints()
            networks = self.state.networks()
            with Netlink() as nl:
                for endpoint in endpoints:
                    nl.delete_link(endpoint.host_interface)
                for network in networks:
                    nl.delete_link(network.bridge)
            from capsa.kernel import nftables

            if nftables.available():
                nftables.run(firewall.reset_commands())
            with self.state.transaction() as db:
                db.execute("DELETE FROM ports")
                db.execute("DELETE FROM endpoints")
                db.execute("DELETE FROM networks")
        remove_netns_dir(self.config)

    # -- internals (under the host lock) -------------------------------------------------

    def _check_netns(self, netns: str) -> None:
        if not os.path.exists(netns):
            raise NotFound(
                f"network namespace {netns} does not exist",
                hint="make one with create_netns() or pass /proc/PID/ns/net",
            )

    def _allocate(
        self,
        container_id: str,
        netns: str,
        container_name: str,
        pairs: Sequence[tuple[Attachment, Network]],
        servers: Sequence[str],
        *,
        route_taken: bool = False,
        first_interface: int = 0,
    ) -> list[Endpoint]:
        endpoints: list[Endpoint] = []
        interfaces: set[str] = set()
        try:
            with self.state.transaction() as db:
                for i, (attachment, network) in enumerate(pairs):
                    rows = db.execute(
                        "SELECT ip FROM endpoints WHERE network_id = ?", (network.id,)
                    ).fetchall()
                    used = [ipaddress.IPv4Address(r["ip"]) for r in rows]
                    if attachment.ip is not None:
                        address = ipam.parse_address(attachment.ip, "--ip")
                        ipam.check_requested(
                            address, network.subnet, network.gateway, used, network.name
                        )
                    else:
                        last = db.execute(
                            "SELECT last_ip FROM networks WHERE id = ?", (network.id,)
                        ).fetchone()["last_ip"]
                        address = ipam.next_free(
                            network.subnet,
                            network.gateway,
                            network.ip_range,
                            used,
                            ipaddress.IPv4Address(last) if last else None,
                            network.name,
                        )
                    interface = attachment.interface or f"eth{first_interface + i}"
                    if not INTERFACE.match(interface) or interface in interfaces:
                        raise InvalidArgument(f"invalid or repeated interface name {interface!r}")
                    interfaces.add(interface)
                    gateway_route = not network.internal and not route_taken
                    route_taken = route_taken or gateway_route
                    for alias in attachment.aliases:
                        if not alias or len(alias) > 253 or any(c.isspace() for c in alias):
                            raise InvalidArgument(f"invalid network alias {alias!r}")
                    endpoint = Endpoint(
                        container_id=container_id,
                        network_id=network.id,
                        endpoint_id=secrets.token_hex(32),
                        container_name=container_name,
                        interface=interface,
                        host_interface=ipam.host_interface_name(container_id, network.id),
                        netns=netns,
                        ip=address,
                        mac=ipam.parse_mac(attachment.mac)
                        if attachment.mac
                        else ipam.mac_for(address),
                        aliases=tuple(attachment.aliases),
                        dns_servers=tuple(servers),
                        gateway_route=gateway_route,
                    )
                    self.state.insert_endpoint(db, endpoint)
                    endpoints.append(endpoint)
        except sqlite3.IntegrityError as error:
            raise Conflict(
                f"cannot set up container {container_id[:12]}: {error}",
                hint="an address or interface is taken; retry",
            ) from None
        return endpoints

    def _insert_ports(self, ports: Sequence[PublishedPort]) -> None:
        if not ports:
            return
        try:
            with self.state.transaction() as db:
                for port in ports:
                    self.state.insert_port(db, port)
        except sqlite3.IntegrityError:
            raise Conflict(
                "a host port was published by another container at the same time",
                hint="choose another host port",
            ) from None

    def _plumb(self, endpoints: Sequence[Endpoint]) -> bool:
        """Make the links; whether a bridge had to be made."""
        networks = {n.id: n for n in self.state.networks()}
        created = False
        with Netlink() as nl:
            for endpoint in endpoints:
                network = networks[endpoint.network_id]
                index, made = ensure_bridge(nl, network)
                created = created or made
                add_endpoint(nl, network, index, endpoint)
        return created

    def _firewall_networks(self) -> list[firewall.FirewallNetwork]:
        return [
            firewall.FirewallNetwork(n.bridge, str(n.subnet), n.internal, n.masquerade)
            for n in self.state.networks()
        ]

    def _sync_firewall(self) -> None:
        from capsa.kernel import nftables

        try:
            nftables.run(firewall.ruleset(self._firewall_networks(), self.state.ports()))
        except OSError as error:
            raise Unavailable(f"cannot write capsa's nftables rules: {error}") from None

    def _publish(self, ports: Sequence[PublishedPort], *, full: bool) -> None:
        """Add the ports' map elements, or rebuild the table when a bridge was just made
        or the table is not what it should be (a reboot, a flushed ruleset)."""
        from capsa.kernel import nftables

        if not full:
            try:
                if ports:
                    nftables.run(firewall.port_elements("add", ports))
                else:
                    nftables.run(
                        [
                            {
                                "list": {
                                    "map": {
                                        "family": firewall.FAMILY,
                                        "table": firewall.TABLE,
                                        "name": "any_addr",
                                    }
                                }
                            }
                        ]
                    )
                return
            except OSError:
                pass
        self._sync_firewall()

    def _unpublish(self, ports: Sequence[PublishedPort]) -> None:
        from capsa.kernel import nftables

        if not ports:
            return
        try:
            nftables.run(firewall.port_elements("delete", ports))
        except OSError:
            self._sync_firewall()  # an element was already gone: rebuild from the state

    def _sync_dns(self) -> None:
        wanted = bool(
            self.state.read(
                "SELECT 1 FROM endpoints e JOIN networks n ON n.id = e.network_id "
                "WHERE n.dns = 1 LIMIT 1"
            )
        )
        self.dns.sync(wanted)

    def _teardown(self, container_id: str, *, delete_links: bool = True) -> None:
        endpoints = self.state.endpoints(container_id=container_id)
        ports = self.state.ports(container_id=container_id)
        with Netlink() as nl:
            for endpoint in endpoints if delete_links else ():
                nl.delete_link(endpoint.host_interface)
            with self.state.transaction() as db:
                db.execute("DELETE FROM ports WHERE container_id = ?", (container_id,))
                db.execute("DELETE FROM endpoints WHERE container_id = ?", (container_id,))
            self._unpublish(ports)
        if endpoints:
            self._sync_dns()

    def _disconnect(self, container_id: str, network: Network) -> None:
        ports = [
            p for p in self.state.ports(container_id=container_id) if p.network_id == network.id
        ]
        with Netlink() as nl:
            nl.delete_link(ipam.host_interface_name(container_id, network.id))
            with self.state.transaction() as db:
                db.execute(
                    "DELETE FROM endpoints WHERE container_id = ? AND network_id = ?",
                    (container_id, network.id),
                )
                db.execute(
                    "DELETE FROM ports WHERE container_id = ? AND network_id = ?",
                    (container_id, network.id),
                )
            self._unpublish(ports)
        self._sync_dns()


def _labels_match(network: Network, filters: Sequence[str]) -> bool:
    for item in filters:
        negate = "!=" in item
        key, _, value = item.partition("!=" if negate else "=")
        present = key in network.labels and (not value or network.labels[key] == value)
        if present == negate:
            return False
    return True
