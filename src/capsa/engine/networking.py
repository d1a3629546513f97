"""A container's networks for one run: a network namespace of its own joined to its
bridge networks, set up by the monitor before the runtime creates the container and
torn down after its last exit (or by `rm` after a crash).

The monitor holds the sockets that keep published host ports taken, for as long as it
supervises the container (restarts included: the namespace and its addresses are kept
between them). What the container got is recorded in its state in Docker's shape
(`network_status`: Networks, Ports, IPAddress...), for inspect, ps and `capsa port`.
"""

from __future__ import annotations

import contextlib
import os
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from capsa.engine.spec import ContainerSpec
from capsa.errors import CapsaError, Conflict, InvalidArgument, NotFound

if TYPE_CHECKING:
    from capsa.config import Config
    from capsa.engine.db import ContainerRecord
    from capsa.engine.engine import Engine
    from capsa.network.model import Attachment, NetworkStatus, PortMapping

DEFAULT_NETWORK = "bridge"
NAMESPACE_MODES = ("none", "host", "container")


def uses_networks(spec: ContainerSpec) -> bool:
    """Whether the container joins bridge networks (not none, host or container:)."""
    return spec.network.mode not in NAMESPACE_MODES


def network_names(spec: ContainerSpec) -> list[str]:
    return list(spec.network.networks) or [DEFAULT_NETWORK]


def validate(config: Config, spec: ContainerSpec) -> None:
    """At create: the networks exist, and the flags fit them (as Docker checks)."""
    network = spec.network
    if not uses_networks(spec):
        # Docker ignores them with a warning for host; none and container: refuse.
        if (network.ports or network.publish_all) and network.mode != "host":
            raise InvalidArgument(
                f"cannot publish ports with --network {network.mode}",
                hint="use a bridge network, or leave out -p/-P",
            )
        if network.aliases or network.ip or network.mac_address:
            raise InvalidArgument(
                f"--network-alias, --ip and --mac-address need a bridge network, "
                f"not --network {network.mode}"
            )
        return
    from capsa.network.networks import Networks

    with Networks(config) as networks:
        for name in network_names(spec):
            try:
                found = networks.get(name)
            except NotFound:
                raise NotFound(
                    f"network {name} not found", hint="see capsa network ls, or create it"
                ) from None
            if found.is_default and network.aliases:
                raise InvalidArgument(
                    "network-scoped aliases are only supported for user-defined networks",
                    hint="create a network with capsa network create and use --network",
                )
            if found.is_default and network.ip:
                raise InvalidArgument(
                    "user specified IP address is supported only on user-defined networks"
                )


def attachments(spec: ContainerSpec) -> list[Attachment]:
    """One per network; the first gets --ip, --mac-address and --network-alias."""
    from capsa.network.model import Attachment

    names = network_names(spec)
    network = spec.network
    first = Attachment(
        names[0],
        tuple(network.aliases),
        network.ip or None,
        network.mac_address or None,
    )
    return [first, *(Attachment(name) for name in names[1:])]


def port_mappings(spec: ContainerSpec, image_config: dict[str, Any]) -> list[PortMapping]:
    """-p as given; -P: every exposed port (the image's and --expose) to a free one."""
    from capsa.network.model import PortMapping

    mappings = [
        PortMapping(p.container_port, p.host_port, p.protocol, p.host_ip)
        for p in spec.network.ports
    ]
    if spec.network.publish_all:
        taken = {(m.container_port, m.protocol) for m in mappings}
        for port, protocol in exposed_ports(spec, image_config):
            if (port, protocol) not in taken:
                mappings.append(PortMapping(port, 0, protocol))
                taken.add((port, protocol))
    return mappings


def exposed_ports(spec: ContainerSpec, image_config: dict[str, Any]) -> list[tuple[int, str]]:
    found: list[tuple[int, str]] = []
    texts = [*(image_config.get("ExposedPorts") or {}), *spec.network.expose]
    for text in texts:
        number, _, protocol = str(text).partition("/")
        first, _, last = number.partition("-")
        try:
            start, end = int(first), int(last or first)
        except ValueError:
            raise InvalidArgument(f"invalid exposed port {text!r}") from None
        found.extend((port, protocol or "tcp") for port in range(start, end + 1))
    return found


def setup(engine: Engine, record: ContainerRecord) -> NetworkStatus:
    """Make the namespace and join the networks; records the result in the state. A
    leftover of a monitor that was killed is torn down first."""
    from capsa.network.netns import create_netns, remove_netns
    from capsa.network.networks import Networks

    if record.state.netns or record.state.network_status:
        teardown(engine, record)
    spec = record.spec
    netns = create_netns(engine.config, f"capsa-{record.id[:16]}")
    try:
        with Networks(engine.config) as networks:
            status = networks.setup(
                record.id,
                netns,
                attachments(spec),
                port_mappings(spec, record.image_config),
                container_name=record.name,
                dns_servers=spec.network.dns,
            )
    except BaseException:
        with contextlib.suppress(CapsaError, OSError):
            remove_netns(netns)
        raise
    settings = docker_settings(status)
    engine.db.update_state(
        record.id, lambda s: replace(s, netns=os.fspath(netns), network_status=settings)
    )
    return status


def docker_settings(status: NetworkStatus) -> dict[str, Any]:
    """The part of `NetworkSettings` Docker fills from the container's networks."""
    networks: dict[str, Any] = {}
    for interface in status.interfaces:
        networks[interface.network] = interface.docker_endpoint()
    first = status.interfaces[0] if status.interfaces else None
    return {
        "Networks": networks,
        "Ports": status.docker_ports(),
        "IPAddress": str(first.address.ip) if first else "",
        "IPPrefixLen": first.address.network.prefixlen if first else 0,
        "Gateway": str(first.gateway) if first and first.gateway else "",
        "MacAddress": first.mac if first else "",
    }


def current_status(config: Config, container_id: str) -> NetworkStatus:
    from capsa.network.networks import Networks

    with Networks(config) as networks:
        return networks.status(container_id)


def teardown(engine: Engine, record: ContainerRecord, *, thorough: bool = False) -> None:
    """Remove the container's endpoints, ports and namespace. Idempotent. `thorough`
    (at rm) asks the network state even when the container's records none, for a
    monitor killed between setting up and recording it."""
    state = record.state
    recorded = state.netns or state.network_status
    if not recorded and not (thorough and uses_networks(record.spec)):
        return
    from capsa.network.netns import remove_netns
    from capsa.network.networks import Networks

    # The namespace goes next and takes its veths with it (the kernel's work, in the
    # background), unless a container that joined it with --network container: runs on.
    alone = bool(state.netns) and not _joined_by_others(engine, record.id)
    with Networks(engine.config) as networks:
        networks.teardown(record.id, delete_links=not alone)
    if state.netns:
        remove_netns(state.netns)
    with contextlib.suppress(NotFound):
        engine.db.update_state(record.id, lambda s: replace(s, netns="", network_status={}))


def connect(
    engine: Engine,
    record: ContainerRecord,
    network: str,
    aliases: tuple[str, ...] = (),
    ip: str | None = None,
) -> None:
    """`capsa network connect`: a running container joins at once; a stopped one at its
    next start. Either way the network is kept in its spec."""
    from capsa.engine.state import RUNNING
    from capsa.network.model import Attachment
    from capsa.network.networks import Networks

    if not uses_networks(record.spec):
        raise Conflict(
            f"container {record.name} uses --network {record.spec.network.mode}: it cannot "
            "join bridge networks"
        )
    with Networks(engine.config) as networks:
        found = networks.get(network)
        if found.name in network_names(record.spec):
            raise Conflict(f"container {record.name} is already connected to network {network}")
        state = engine.reconcile(record)
        if state.status == RUNNING and state.netns:
            networks.connect(
                record.id,
                state.netns,
                Attachment(found.name, aliases, ip),
                container_name=record.name,
                dns_servers=record.spec.network.dns,
            )
            settings = docker_settings(networks.status(record.id))
            engine.db.update_state(record.id, lambda s: replace(s, network_status=settings))

    def add(spec: ContainerSpec) -> ContainerSpec:
        spec.network.networks = [*network_names(spec), found.name]
        return spec

    engine.db.update_spec(record.id, add)


def disconnect(engine: Engine, record: ContainerRecord, network: str) -> None:
    from capsa.network.networks import Networks

    with Networks(engine.config) as networks:
        found = networks.get(network)
        if found.name not in network_names(record.spec):
            raise NotFound(f"container {record.name} is not connected to network {network}")
        if found.id in {e.network_id for e in networks.state.endpoints(container_id=record.id)}:
            networks.disconnect(record.id, found.name)
            settings = docker_settings(networks.status(record.id))
            engine.db.update_state(record.id, lambda s: replace(s, network_status=settings))

    def remove(spec: ContainerSpec) -> ContainerSpec:
        spec.network.networks = [n for n in network_names(spec) if n != found.name]
        if not spec.network.networks:
            spec.network.mode = "none"  # Docker: a container left on no network
        return spec

    engine.db.update_spec(record.id, remove)


def _joined_by_others(engine: Engine, container_id: str) -> bool:
    """Whether a live container was started with --network container:<this one>."""
    for other in engine.db.containers():
        if other.id == container_id or other.spec.network.mode != "container":
            continue
        if not (other.state.active or other.state.pid > 0):
            continue
        try:
            if engine.db.find_container(other.spec.network.peer).id == container_id:
                return True
        except CapsaError:
            return True  # cannot tell: delete the links the slow, sure way
    return False
