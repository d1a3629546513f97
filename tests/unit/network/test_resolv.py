from __future__ import annotations

import ipaddress
from pathlib import Path

from capsa.network.model import InterfaceStatus, NetworkStatus
from capsa.network.resolv import (
    DOCKER_DEFAULT_DNS,
    ResolvConf,
    host_resolvers_for_containers,
    hosts_content,
    parse_resolv_conf,
    resolv_conf_content,
)


def status(dns: bool) -> NetworkStatus:
    interface = InterfaceStatus(
        "app",
        "n" * 64,
        "e" * 64,
        "eth0",
        "veth0",
        ipaddress.IPv4Interface("10.89.0.5/24"),
        ipaddress.IPv4Address("10.89.0.1"),
        "02:ca:0a:59:00:05",
        ipaddress.IPv4Address("10.89.0.1") if dns else None,
        (),
    )
    return NetworkStatus("c" * 64, (interface,), ())


def test_parse() -> None:
    conf = parse_resolv_conf(
        "# comment\nnameserver 10.0.0.2\nnameserver 127.0.0.53 ; stub\n"
        "search a.example b.example\noptions ndots:2 edns0\noptions timeout:1\n"
    )
    assert conf == ResolvConf(
        ("10.0.0.2", "127.0.0.53"), ("a.example", "b.example"), ("ndots:2", "edns0", "timeout:1")
    )


def test_loopback_resolvers_are_skipped_as_docker_skips_them(tmp_path: Path) -> None:
    host = tmp_path / "resolv.conf"
    resolved = tmp_path / "resolved.conf"
    host.write_text("nameserver 127.0.0.53\nsearch corp.example\n")
    assert host_resolvers_for_containers(host, resolved) == ResolvConf(
        DOCKER_DEFAULT_DNS, ("corp.example",), ()
    )
    resolved.write_text("nameserver 10.0.0.53\nnameserver ::1\n")
    assert host_resolvers_for_containers(host, resolved).nameservers == ("10.0.0.53",)
    host.write_text("nameserver 10.1.1.1\nnameserver 127.0.0.1\n")
    assert host_resolvers_for_containers(host, resolved).nameservers == ("10.1.1.1",)


def test_resolv_conf_content() -> None:
    host = ResolvConf(("10.0.0.2",), ("corp.example",), ("ndots:1",))
    assert resolv_conf_content(status(True), host=host) == (
        "nameserver 10.89.0.1\nsearch corp.example\noptions ndots:1\n"
    )
    # --dns with the embedded server: the server forwards to them, resolv.conf names it.
    assert resolv_conf_content(status(True), servers=["9.9.9.9"], host=host).startswith(
        "nameserver 10.89.0.1\n"
    )
    assert resolv_conf_content(status(False), host=host).startswith("nameserver 10.0.0.2\n")
    assert resolv_conf_content(
        status(False), servers=["9.9.9.9"], search=["x.example"], options=["rotate"], host=host
    ) == ("nameserver 9.9.9.9\nsearch x.example\noptions rotate\n")


def test_hosts_content_as_docker_writes_it() -> None:
    text = hosts_content(
        status(False),
        "abc123",
        extra_hosts=[("db", "10.9.9.9"), ("host", "host-gateway")],
        links=[("10.89.0.7", ["other", "alias"])],
    )
    lines = text.splitlines()
    assert lines[0] == "127.0.0.1\tlocalhost"
    assert lines[1] == "::1\tlocalhost ip6-localhost ip6-loopback"
    assert lines[6:] == [
        "10.9.9.9\tdb",
        "10.89.0.1\thost",
        "10.89.0.7\tother alias",
        "10.89.0.5\tabc123",
    ]
    assert hosts_content(None, "abc").count("\n") == 6
