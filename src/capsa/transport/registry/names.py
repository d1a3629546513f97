"""Registry host names as users write them and as the network needs them.

Docker Hub has three names: `docker.io` in image references, `registry-1.docker.io` for
the distribution API, and `index.docker.io` (with `https://index.docker.io/v1/`) as the
key Docker writes its credentials under. Every other registry is its `host[:port]`.
"""

from __future__ import annotations

import ipaddress
import re

from capsa.errors import InvalidArgument
from capsa.oci.reference import DEFAULT_DOMAIN, LEGACY_DEFAULT_DOMAIN

DOCKER_HUB = DEFAULT_DOMAIN
DOCKER_HUB_API = "registry-1.docker.io"
DOCKER_HUB_INDEX = LEGACY_DEFAULT_DOMAIN
DOCKER_HUB_AUTH_KEY = "https://index.docker.io/v1/"
_HUB_NAMES = frozenset({DOCKER_HUB, DOCKER_HUB_API, DOCKER_HUB_INDEX})
_HOST = re.compile(
    r"(?:[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)*"
    r"|\[[0-9A-Fa-f:.]+\])(?::[0-9]{1,5})?"
)


def api_host(host: str) -> str:
    """Where the distribution API of the registry `host` is: Docker Hub's is elsewhere."""
    return DOCKER_HUB_API if host in _HUB_NAMES else host


def canonical_host(text: str) -> str:
    """The registry a user or a credentials file names, as `host[:port]`: the scheme
    and any path are dropped (`https://index.docker.io/v1/` -> `docker.io`)."""
    host = text.strip()
    for scheme in ("https://", "http://"):
        if host.lower().startswith(scheme):
            host = host[len(scheme) :]
            break
    host = host.split("/", 1)[0]
    if host.lower() in _HUB_NAMES:
        return DOCKER_HUB
    return host


def check_host(host: str) -> str:
    if not _HOST.fullmatch(host):
        raise InvalidArgument(
            f"invalid registry {host!r}",
            hint="write it as host[:port], e.g. registry.example.com:5000",
        )
    return host


def split_host_port(host: str) -> tuple[str, int | None]:
    if host.startswith("["):
        address, _, rest = host[1:].partition("]")
        return address, int(rest[1:]) if rest.startswith(":") else None
    name, sep, port = host.rpartition(":")
    if sep and port.isdigit():
        return name, int(port)
    return host, None


def is_loopback(host: str) -> bool:
    """localhost and 127.0.0.0/8 and ::1: Docker treats these as insecure registries
    (HTTPS tried first, with any certificate, then plain HTTP)."""
    name, _ = split_host_port(host)
    if name.lower() == "localhost" or name.lower().endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def is_short_name(text: str) -> bool:
    """Whether an image name as typed names no registry (`busybox`, `user/app`): its
    first component is a registry only when it has a '.' or ':' or is `localhost`."""
    first, slash, _ = text.partition("/")
    if not slash:
        return True
    return not ("." in first or ":" in first or first == "localhost" or first != first.lower())
