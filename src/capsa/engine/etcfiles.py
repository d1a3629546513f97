"""The /etc/hosts, /etc/hostname and /etc/resolv.conf a container gets, written in its
directory and bound in, as Docker does."""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Sequence

from capsa.engine.spec import ContainerSpec
from capsa.errors import InvalidArgument
from capsa.store._files import write_atomic

LOCALHOST = """\
127.0.0.1\tlocalhost
::1\tlocalhost ip6-localhost ip6-loopback
fe00::0\tip6-localnet
ff00::0\tip6-mcastprefix
ff02::1\tip6-allnodes
ff02::2\tip6-allrouters
"""
HOST_RESOLV_CONF = "/etc/resolv.conf"


def parse_extra_host(entry: str) -> tuple[str, str]:
    """--add-host NAME:IP (or NAME=IP, as newer Docker takes it)."""
    separator = "=" if "=" in entry else ":"
    name, _, address = entry.partition(separator)
    if not name or not address:
        raise InvalidArgument(f"invalid --add-host {entry!r}", hint="use NAME:IP")
    address = address.strip("[]")
    if address != "host-gateway":
        try:
            ipaddress.ip_address(address)
        except ValueError:
            raise InvalidArgument(
                f"invalid --add-host {entry!r}: {address!r} is not an IP address"
            ) from None
    return name, address


def hosts_file(
    spec: ContainerSpec,
    hostname: str,
    addresses: Sequence[str],
    peers: Sequence[tuple[str, str]] = (),
) -> str:
    if spec.network.mode == "host":
        try:
            with open("/etc/hosts") as f:
                text = f.read()
        except OSError:
            text = LOCALHOST
    else:
        text = LOCALHOST
    lines = [text.rstrip("\n")]
    for name, address in (parse_extra_host(e) for e in spec.network.extra_hosts):
        lines.append(f"{address}\t{name}")
    for address, names in peers:
        lines.append(f"{address}\t{names}")
    if hostname:
        names = hostname if not spec.domainname else f"{hostname}.{spec.domainname} {hostname}"
        for address in addresses:
            lines.append(f"{address}\t{names}")
    return "\n".join(lines) + "\n"


def resolv_conf(spec: ContainerSpec, nameservers: Sequence[str] = ()) -> str:
    """The host's resolv.conf, without loopback resolvers the container cannot reach
    (unless it shares the host's network), with --dns/--dns-search/--dns-option applied.
    `nameservers` (an embedded DNS server) replaces the host's."""
    try:
        with open(HOST_RESOLV_CONF) as f:
            host = f.read()
    except OSError:
        host = ""
    servers: list[str] = []
    search: list[str] = []
    options: list[str] = []
    for line in host.splitlines():
        words = line.split()
        if not words or words[0].startswith(("#", ";")):
            continue
        if words[0] == "nameserver" and len(words) > 1:
            servers.append(words[1])
        elif words[0] in ("search", "domain"):
            search = words[1:]
        elif words[0] == "options":
            options.extend(words[1:])
    if spec.network.mode != "host":
        servers = [s for s in servers if not _loopback(s)]
    if nameservers:
        servers = list(nameservers)
    if spec.network.dns:
        servers = list(spec.network.dns)
    if spec.network.dns_search:
        search = [] if spec.network.dns_search == ["."] else list(spec.network.dns_search)
    if spec.network.dns_options:
        options = list(spec.network.dns_options)
    lines = [f"nameserver {server}" for server in servers]
    if search:
        lines.append("search " + " ".join(search))
    if options:
        lines.append("options " + " ".join(options))
    return "\n".join(lines) + "\n" if lines else ""


def _loopback(address: str) -> bool:
    try:
        return ipaddress.ip_address(address.split("%", maxsplit=1)[0]).is_loopback
    except ValueError:
        return False


def write_etc_files(directory: str, hostname: str, hosts: str, resolv: str) -> dict[str, str]:
    """Write the three files; returns destination -> host path for the OCI mounts."""
    files = {
        "/etc/hostname": (os.path.join(directory, "hostname"), f"{hostname}\n" if hostname else ""),
        "/etc/hosts": (os.path.join(directory, "hosts"), hosts),
        "/etc/resolv.conf": (os.path.join(directory, "resolv.conf"), resolv),
    }
    for path, text in files.values():
        write_atomic(path, text.encode(), 0o644, durable=False)
    return {destination: path for destination, (path, _) in files.items()}
