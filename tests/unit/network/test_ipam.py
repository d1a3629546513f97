from __future__ import annotations

import ipaddress

import pytest

from capsa.errors import Conflict, InvalidArgument
from capsa.network import ipam

A = ipaddress.IPv4Address
NET = ipaddress.IPv4Network("10.1.0.0/29")  # .1 gateway, .2-.6 hosts, .7 broadcast


def test_next_free_is_round_robin_and_skips_reserved() -> None:
    gw = A("10.1.0.1")
    assert ipam.next_free(NET, gw, None, [], None, "n") == A("10.1.0.2")
    assert ipam.next_free(NET, gw, None, [A("10.1.0.2")], A("10.1.0.2"), "n") == A("10.1.0.3")
    # After the last one given, not the lowest free: a freed address is not reused at once.
    assert ipam.next_free(NET, gw, None, [A("10.1.0.3")], A("10.1.0.3"), "n") == A("10.1.0.4")
    # Wraps around.
    assert ipam.next_free(NET, gw, None, [A("10.1.0.6")], A("10.1.0.6"), "n") == A("10.1.0.2")
    # The gateway may be anywhere; it is never handed out.
    assert ipam.next_free(NET, A("10.1.0.2"), None, [], None, "n") == A("10.1.0.1")


def test_exhausted_network() -> None:
    used = [A(f"10.1.0.{i}") for i in range(2, 7)]
    with pytest.raises(Conflict, match="no free address"):
        ipam.next_free(NET, A("10.1.0.1"), None, used, None, "n")


def test_ip_range_bounds_what_is_handed_out() -> None:
    subnet = ipaddress.IPv4Network("10.2.0.0/24")
    pool = ipaddress.IPv4Network("10.2.0.128/30")
    gw = A("10.2.0.1")
    got = []
    for _ in range(4):
        address = ipam.next_free(subnet, gw, pool, got, got[-1] if got else None, "n")
        got.append(address)
    assert [str(a) for a in got] == ["10.2.0.128", "10.2.0.129", "10.2.0.130", "10.2.0.131"]
    with pytest.raises(Conflict):
        ipam.next_free(subnet, gw, pool, got, got[-1], "n")


def test_requested_addresses() -> None:
    gw = A("10.1.0.1")
    ipam.check_requested(A("10.1.0.5"), NET, gw, [], "n")
    with pytest.raises(Conflict, match="already in use"):
        ipam.check_requested(A("10.1.0.5"), NET, gw, [A("10.1.0.5")], "n")
    for reserved in ("10.1.0.0", "10.1.0.1", "10.1.0.7"):
        with pytest.raises(InvalidArgument, match="reserved"):
            ipam.check_requested(A(reserved), NET, gw, [], "n")
    with pytest.raises(InvalidArgument, match="not in subnet"):
        ipam.check_requested(A("10.9.0.5"), NET, gw, [], "n")


def test_subnets_gateways_and_ranges() -> None:
    assert ipam.parse_subnet("10.89.0.0/24") == ipaddress.IPv4Network("10.89.0.0/24")
    with pytest.raises(InvalidArgument, match=r"it should be 10\.89\.0\.0/24"):
        ipam.parse_subnet("10.89.0.7/24")
    with pytest.raises(InvalidArgument, match="too small"):
        ipam.parse_subnet("10.89.0.0/31")
    with pytest.raises(InvalidArgument, match="invalid subnet"):
        ipam.parse_subnet("fd00::/64")
    subnet = ipaddress.IPv4Network("10.89.0.0/24")
    assert ipam.network_plan(subnet, None, None) == (A("10.89.0.1"), None)
    assert ipam.network_plan(subnet, "10.89.0.254", "10.89.0.0/25")[0] == A("10.89.0.254")
    with pytest.raises(InvalidArgument, match="not a usable address"):
        ipam.network_plan(subnet, "10.89.0.255", None)
    with pytest.raises(InvalidArgument, match="not inside subnet"):
        ipam.network_plan(subnet, None, "10.90.0.0/25")


def test_pick_subnet_avoids_what_is_taken() -> None:
    taken = [ipaddress.IPv4Network("10.100.0.0/23"), ipaddress.IPv4Network("10.0.0.0/8")]
    assert ipam.pick_subnet(ipam.user_candidates(), taken[:1]) == ipaddress.IPv4Network(
        "10.100.2.0/24"
    )
    assert ipam.pick_subnet(ipam.user_candidates(), taken) is None
    assert (
        ipam.overlapping(ipaddress.IPv4Network("10.100.1.0/24"), [("net a", taken[0])]) == "net a"
    )
    # The default pool steers clear of docker0 and podman0.
    for subnet in ipam.DEFAULT_BRIDGE_SUBNETS:
        assert not subnet.overlaps(ipaddress.IPv4Network("172.17.0.0/16"))
        assert not subnet.overlaps(ipaddress.IPv4Network("10.88.0.0/16"))


def test_macs_and_interface_names() -> None:
    assert ipam.mac_for(A("10.89.0.2")) == "02:ca:0a:59:00:02"
    assert ipam.parse_mac("02-42-AC-11-00-02") == "02:42:ac:11:00:02"
    with pytest.raises(InvalidArgument, match="multicast"):
        ipam.parse_mac("01:00:5e:00:00:01")
    with pytest.raises(InvalidArgument):
        ipam.parse_mac("02:42:ac")
    name = ipam.host_interface_name("c" * 64, "n" * 64)
    assert name == ipam.host_interface_name("c" * 64, "n" * 64)  # derived, not random
    assert name != ipam.host_interface_name("c" * 64, "m" * 64)
    assert name.startswith("veth") and len(name) <= 15
