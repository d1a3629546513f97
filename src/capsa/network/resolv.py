"""What a container's /etc/resolv.conf and /etc/hosts say, as Docker writes them.

The host's resolvers reach a container only if they are reachable from it: loopback
ones (127.0.0.53 of systemd-resolved, a local dnsmasq) are not, so they are skipped as
Docker skips them, reading systemd-resolved's upstream list instead when that is all
there is, and falling back to Docker's public defaults when nothing is left. On a
network with the embedded DNS server the container asks that server (the network's
gateway address), which forwards what it does not know to the host's resolvers, from
the host, where loopback ones work.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from capsa.network.model import NetworkStatus

HOST_RESOLV_CONF = Path("/etc/resolv.conf")
SYSTEMD_RESOLVED_UPSTREAMS = Path("/run/systemd/resolve/resolv.conf")
DOCKER_DEFAULT_DNS = ("8.8.8.8", "8.8.4.4")


@dataclass(frozen=True)
class ResolvConf:
    nameservers: tuple[str, ...] = ()
    search: tuple[str, ...] = ()
    options: tuple[str, ...] = field(default=())


def parse_resolv_conf(text: str) -> ResolvConf:
    servers: list[str] = []
    search: list[str] = []
    options: list[str] = []
    for raw in text.splitlines():
        line = raw.split("#", 1)[0].split(";", 1)[0].strip()
        if not line:
            continue
        word, *rest = line.split()
        if word == "nameserver" and rest:
            servers.append(rest[0])
        elif word in ("search", "domain"):
            search = rest  # the last one wins, as in glibc
        elif word == "options":
            options.extend(rest)
    return ResolvConf(tuple(servers), tuple(search), tuple(options))


def read_resolv_conf(path: Path = HOST_RESOLV_CONF) -> ResolvConf:
    try:
        return parse_resolv_conf(path.read_text(errors="replace"))
    except OSError:
        return ResolvConf()


def _ipv4(text: str) -> ipaddress.IPv4Address | None:
    try:
        return ipaddress.IPv4Address(text)
    except ValueError:
        return None


def container_reachable(servers: Iterable[str]) -> list[str]:
    """The IPv4 servers a container can reach: no loopback ones."""
    result = []
    for server in servers:
        address = _ipv4(server)
        if address is not None and not address.is_loopback:
            result.append(str(address))
    return result


def host_resolvers_for_containers(
    path: Path = HOST_RESOLV_CONF, resolved: Path = SYSTEMD_RESOLVED_UPSTREAMS
) -> ResolvConf:
    """The host's resolv.conf as a container on a network without DNS should get it."""
    host = read_resolv_conf(path)
    servers = container_reachable(host.nameservers)
    if not servers and resolved != path and resolved.exists():
        servers = container_reachable(read_resolv_conf(resolved).nameservers)
    return ResolvConf(tuple(servers) or DOCKER_DEFAULT_DNS, host.search, host.options)


def resolv_conf_content(
    status: NetworkStatus | None,
    *,
    servers: Sequence[str] = (),
    search: Sequence[str] = (),
    options: Sequence[str] = (),
    host: ResolvConf | None = None,
) -> str:
    """The container's /etc/resolv.conf. With the embedded DNS server (a user-defined
    network) it names only that server: --dns servers are what it forwards to (given to
    `setup` as `dns_servers`). Otherwise --dns servers, else the host's reachable ones."""
    host = host if host is not None else host_resolvers_for_containers()
    embedded = list(status.dns_servers) if status is not None else []
    names = [str(embedded[0])] if embedded else list(servers) or list(host.nameservers)
    lines = [f"nameserver {name}" for name in names]
    chosen_search = list(search) or list(host.search)
    if chosen_search:
        lines.append("search " + " ".join(chosen_search))
    chosen_options = list(options) or list(host.options)
    if chosen_options:
        lines.append("options " + " ".join(chosen_options))
    return "\n".join(lines) + "\n"


HOSTS_HEADER = (
    ("127.0.0.1", "localhost"),
    ("::1", "localhost ip6-localhost ip6-loopback"),
    ("fe00::0", "ip6-localnet"),
    ("ff00::0", "ip6-mcastprefix"),
    ("ff02::1", "ip6-allnodes"),
    ("ff02::2", "ip6-allrouters"),
)
HOST_GATEWAY = "host-gateway"  # --add-host name:host-gateway, as Docker spells it


def hosts_content(
    status: NetworkStatus | None,
    hostname: str,
    *,
    extra_hosts: Sequence[tuple[str, str]] = (),
    links: Sequence[tuple[str, Sequence[str]]] = (),
    domainname: str = "",
) -> str:
    """The container's /etc/hosts, in Docker's order: localhost lines, --add-host entries
    (`host-gateway` is the first network's gateway), linked containers (address, names)
    as the default bridge gives them, and last the container's own address and hostname."""
    gateway = next((i.gateway for i in (status.interfaces if status else ()) if i.gateway), None)
    lines = [f"{address}\t{names}" for address, names in HOSTS_HEADER]
    for name, address in extra_hosts:
        if address == HOST_GATEWAY:
            if gateway is None:
                continue
            address = str(gateway)
        lines.append(f"{address}\t{name}")
    for address, names in links:
        lines.append(f"{address}\t{' '.join(names)}")
    if status is not None and status.interfaces:
        own = str(status.interfaces[0].address.ip)
        full = f"{hostname}.{domainname} {hostname}" if domainname else hostname
        lines.append(f"{own}\t{full}")
    return "\n".join(lines) + "\n"
