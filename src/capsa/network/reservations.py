"""Host ports for published ports: chosen and held by binding them, so a port already
bound on the host is refused with a clear error before any rule is written, and nothing
else can take it while the container runs (Podman's conmon holds them the same way)."""

from __future__ import annotations

import errno
import socket
from collections.abc import Iterable

from capsa.errors import Conflict, InvalidArgument
from capsa.network.model import PortMapping, PublishedPort


def _describe(host_ip: str, port: int, protocol: str) -> str:
    return f"{host_ip or '0.0.0.0'}:{port}/{protocol}"


def _overlaps(a_ip: str, b_ip: str) -> bool:
    return not a_ip or not b_ip or a_ip == b_ip


def check_against_published(mapping: PortMapping, published: Iterable[PublishedPort]) -> None:
    """Refuse a fixed host port another capsa container publishes (its sockets may not
    be held by anyone if its engine did not keep them)."""
    for other in published:
        if (
            other.protocol == mapping.protocol
            and other.host_port == mapping.host_port
            and _overlaps(other.host_ip, mapping.host_ip)
        ):
            raise Conflict(
                f"host port {_describe(mapping.host_ip, other.host_port, mapping.protocol)} "
                f"is already published by container {other.container_id[:12]}",
                hint="choose another host port",
            )


def _bind(host_ip: str, port: int, protocol: str) -> socket.socket:
    kind = socket.SOCK_STREAM if protocol == "tcp" else socket.SOCK_DGRAM
    sock = socket.socket(socket.AF_INET, kind | socket.SOCK_CLOEXEC)
    try:
        # As every server sets it: a port whose old connections linger in TIME_WAIT is
        # free; a port someone listens on is not.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host_ip or "0.0.0.0", port))
        if kind == socket.SOCK_STREAM:
            sock.listen(1)
    except BaseException:
        sock.close()
        raise
    return sock


def reserve(mapping: PortMapping, published: Iterable[PublishedPort]) -> tuple[int, socket.socket]:
    """Bind the mapping's host port (or the first free one of its range, or any free one
    for port 0): (the port, the socket that holds it)."""
    published = list(published)
    taken = {
        p.host_port
        for p in published
        if p.protocol == mapping.protocol and _overlaps(p.host_ip, mapping.host_ip)
    }
    if mapping.host_port_end:
        candidates = range(mapping.host_port, mapping.host_port_end + 1)
    else:
        if mapping.host_port:
            check_against_published(mapping, published)
        candidates = range(mapping.host_port, mapping.host_port + 1)
    last: OSError | None = None
    for port in candidates:
        if port and port in taken:
            continue
        try:
            sock = _bind(mapping.host_ip, port, mapping.protocol)
        except OSError as error:
            if error.errno == errno.EADDRNOTAVAIL:
                raise InvalidArgument(
                    f"cannot publish on {mapping.host_ip}: not an address of this host",
                    hint="publish on 127.0.0.1, one of the host's addresses, or all of them",
                ) from None
            if error.errno == errno.EACCES:
                raise InvalidArgument(f"cannot bind host port {port}: permission denied") from None
            if error.errno != errno.EADDRINUSE:
                raise
            last = error
            continue
        if port in taken:  # port 0 gave a port a capsa container publishes
            sock.close()
            continue
        return sock.getsockname()[1], sock
    wanted = (
        f"{mapping.host_port}-{mapping.host_port_end}"
        if mapping.host_port_end
        else str(mapping.host_port)
    )
    raise Conflict(
        f"cannot publish {mapping.host_ip or '0.0.0.0'}:{wanted}/{mapping.protocol}: "
        "the host port is already in use" + ("" if last is None else f" ({last.strerror})"),
        hint="stop what listens there or choose another host port",
    )
