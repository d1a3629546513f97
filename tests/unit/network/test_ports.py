from __future__ import annotations

import pytest

from capsa.errors import InvalidArgument
from capsa.network.model import PortMapping
from capsa.network.ports import format_mapping, parse_port_spec, parse_port_specs


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ("80", [PortMapping(80)]),
        ("8080:80", [PortMapping(80, 8080)]),
        ("8080:80/udp", [PortMapping(80, 8080, "udp")]),
        ("8080:80/TCP", [PortMapping(80, 8080, "tcp")]),
        ("127.0.0.1:8080:80", [PortMapping(80, 8080, "tcp", "127.0.0.1")]),
        ("127.0.0.1::80", [PortMapping(80, 0, "tcp", "127.0.0.1")]),
        ("0.0.0.0:8080:80", [PortMapping(80, 8080)]),
        ("8000-8001:80-81", [PortMapping(80, 8000), PortMapping(81, 8001)]),
        ("8000-8010:80", [PortMapping(80, 8000, host_port_end=8010)]),
        ("80-81", [PortMapping(80), PortMapping(81)]),
    ],
)
def test_valid_specs(spec: str, expected: list[PortMapping]) -> None:
    assert parse_port_spec(spec) == expected


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("", "invalid port spec"),
        ("a:b:c:d", "invalid port spec"),
        ("http", "not a port"),
        ("0:80", "1 to 65535"),
        ("8080:70000", "1 to 65535"),
        ("90-80", "backwards"),
        ("8000-8002:80-81", "differ in length"),
        ("8080:80/sctp", "not supported"),
        ("[::1]:8080:80", "IPv6"),
        ("999.1.1.1:8080:80", "not an IPv4 address"),
    ],
)
def test_invalid_specs(spec: str, message: str) -> None:
    with pytest.raises(InvalidArgument, match=message):
        parse_port_spec(spec)


def test_one_host_port_twice_is_refused() -> None:
    with pytest.raises(InvalidArgument, match="published twice"):
        parse_port_specs(["8080:80", "8080:81"])
    with pytest.raises(InvalidArgument, match="published twice"):
        parse_port_specs(["127.0.0.1:8080:80", "8080:81"])
    # Other protocol, or two distinct addresses: fine.
    assert len(parse_port_specs(["8080:80", "8080:80/udp"])) == 2
    assert len(parse_port_specs(["127.0.0.1:8080:80", "127.0.0.2:8080:80"])) == 2
    assert len(parse_port_specs(["80", "80/udp", "81"])) == 3


def test_format() -> None:
    assert format_mapping(PortMapping(80, 8080)) == "0.0.0.0:8080->80/tcp"
