"""Docker's `-p` specs: `[ip:][hostPort:]containerPort[/tcp|udp]`, with ranges.

`8080:80`, `127.0.0.1:8080:80/udp`, `127.0.0.1::80` (any free host port on 127.0.0.1),
`80` (any free host port), `8000-8002:80-82` (one to one), `8000-8010:80` (the first free
host port of the range), `80-82` (each to any free host port).
"""

from __future__ import annotations

import ipaddress

from capsa.errors import InvalidArgument
from capsa.network.model import PortMapping

PROTOCOLS = ("tcp", "udp")


def _port_range(text: str, spec: str, what: str) -> tuple[int, int]:
    first, sep, last = text.partition("-")
    try:
        start = int(first)
        end = int(last) if sep else start
    except ValueError:
        raise InvalidArgument(
            f"invalid port spec {spec!r}: {what} {text!r} is not a port or a range",
            hint="use [ip:][hostPort:]containerPort[/tcp|udp], e.g. 8080:80",
        ) from None
    if not (1 <= start <= 65535 and 1 <= end <= 65535):
        raise InvalidArgument(f"invalid port spec {spec!r}: ports are 1 to 65535")
    if end < start:
        raise InvalidArgument(f"invalid port spec {spec!r}: the range {text} runs backwards")
    return start, end


def _host_ip(text: str, spec: str) -> str:
    if text in ("", "0.0.0.0"):
        return ""
    if text.startswith("["):
        raise InvalidArgument(
            f"invalid port spec {spec!r}: IPv6 host addresses are not supported",
            hint="publish on an IPv4 address or on all addresses",
        )
    try:
        return str(ipaddress.IPv4Address(text))
    except ValueError:
        raise InvalidArgument(
            f"invalid port spec {spec!r}: {text!r} is not an IPv4 address"
        ) from None


def parse_port_spec(spec: str) -> list[PortMapping]:
    """One `-p` value as the mappings it stands for."""
    body, _, protocol = spec.partition("/")
    protocol = protocol.lower() or "tcp"
    if protocol not in PROTOCOLS:
        raise InvalidArgument(
            f"invalid port spec {spec!r}: protocol {protocol!r} is not supported",
            hint="tcp or udp",
        )
    if body.startswith("["):
        _host_ip(body, spec)  # raises: IPv6 is not supported
    parts = body.rsplit(":", 2) if body.count(":") <= 2 else None
    if not body or parts is None:
        raise InvalidArgument(
            f"invalid port spec {spec!r}",
            hint="use [ip:][hostPort:]containerPort[/tcp|udp], e.g. 8080:80",
        )
    host_ip, host = "", ""
    if len(parts) == 3:
        host_ip, host, container = _host_ip(parts[0], spec), parts[1], parts[2]
    elif len(parts) == 2:
        host, container = parts
    else:
        container = parts[0]
    c_start, c_end = _port_range(container, spec, "container port")
    count = c_end - c_start + 1
    if not host:
        return [PortMapping(port, 0, protocol, host_ip) for port in range(c_start, c_end + 1)]
    h_start, h_end = _port_range(host, spec, "host port")
    if count == 1 and h_end > h_start:
        return [PortMapping(c_start, h_start, protocol, host_ip, host_port_end=h_end)]
    if h_end - h_start + 1 != count:
        raise InvalidArgument(
            f"invalid port spec {spec!r}: the host range {host} and the container range "
            f"{container} differ in length"
        )
    return [PortMapping(c_start + i, h_start + i, protocol, host_ip) for i in range(count)]


def parse_port_specs(specs: list[str]) -> list[PortMapping]:
    mappings: list[PortMapping] = []
    for spec in specs:
        mappings.extend(parse_port_spec(spec))
    check_no_duplicates(mappings)
    return mappings


def check_no_duplicates(mappings: list[PortMapping]) -> None:
    """Two mappings of one container may not claim one host port twice."""
    seen: dict[tuple[str, int], PortMapping] = {}
    for mapping in mappings:
        if mapping.host_port == 0 or mapping.host_port_end:
            continue
        key = (mapping.protocol, mapping.host_port)
        other = seen.get(key)
        if other is not None and (
            not other.host_ip or not mapping.host_ip or other.host_ip == mapping.host_ip
        ):
            raise InvalidArgument(
                f"host port {mapping.host_port}/{mapping.protocol} is published twice",
                hint="give each mapping its own host port",
            )
        seen[key] = mapping


def format_mapping(mapping: PortMapping) -> str:
    host = f"{mapping.host_ip or '0.0.0.0'}:{mapping.host_port}"
    return f"{host}->{mapping.container_port}/{mapping.protocol}"
