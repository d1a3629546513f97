"""Networks as Docker shows them: `docker network inspect` and the `ls` columns."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from capsa.network.model import Endpoint, Network


def inspect_document(network: Network, endpoints: Iterable[Endpoint]) -> dict[str, Any]:
    ipam: dict[str, str] = {"Subnet": str(network.subnet), "Gateway": str(network.gateway)}
    if network.ip_range is not None:
        ipam["IPRange"] = str(network.ip_range)
    containers = {
        e.container_id: {
            "Name": e.container_name,
            "EndpointID": e.endpoint_id,
            "MacAddress": e.mac,
            "IPv4Address": f"{e.ip}/{network.subnet.prefixlen}",
            "IPv6Address": "",
        }
        for e in endpoints
    }
    return {
        "Name": network.name,
        "Id": network.id,
        "Created": network.created,
        "Scope": "local",
        "Driver": network.driver,
        "EnableIPv6": False,
        "IPAM": {"Driver": "default", "Options": {}, "Config": [ipam]},
        "Internal": network.internal,
        "Attachable": False,
        "Ingress": False,
        "ConfigFrom": {"Network": ""},
        "ConfigOnly": False,
        "Containers": containers,
        "Options": dict(network.options),
        "Labels": dict(network.labels),
    }


def summary(network: Network) -> dict[str, Any]:
    """The fields `network ls --format` knows, as Docker names them."""
    labels = ",".join(f"{k}={v}" for k, v in sorted(network.labels.items()))
    return {
        "ID": network.id[:12],
        "Name": network.name,
        "Driver": network.driver,
        "Scope": "local",
        "IPv6": "false",
        "Internal": "true" if network.internal else "false",
        "Labels": labels,
        "CreatedAt": network.created,
    }
