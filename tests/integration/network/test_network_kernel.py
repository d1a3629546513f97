"""Networks on a real kernel, inside the lab's own namespaces (see conftest.py)."""

from __future__ import annotations

import ipaddress
import socket
import threading

import pytest
from network_lab import UPLINK_HOST, UPLINK_OUTSIDE, Lab, host_links, host_ruleset

from capsa.errors import AlreadyExists, Conflict, InvalidArgument, NotFound
from capsa.network.model import Attachment
from capsa.network.netns import entered
from capsa.network.ports import parse_port_specs

A = "a" * 64
B = "b" * 64
C = "c" * 64


def fake_upstream(lab: Lab) -> None:
    """The host's resolver (127.0.0.1:53 in the lab host): example.test is 192.0.2.99,
    everything else does not exist."""
    import dns.message
    import dns.rcode
    import dns.rrset

    with entered(lab.host):
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        sock.bind(("127.0.0.1", 53))

    def loop() -> None:
        with sock:
            while True:
                try:
                    data, peer = sock.recvfrom(4096)
                except OSError:
                    return
                if not data:
                    return
                query = dns.message.from_wire(data)
                reply = dns.message.make_response(query)
                name = query.question[0].name.to_text(omit_final_dot=True)
                if name == "example.test":
                    reply.answer.append(
                        dns.rrset.from_text(query.question[0].name, 60, "IN", "A", "192.0.2.99")
                    )
                else:
                    reply.set_rcode(dns.rcode.NXDOMAIN)
                sock.sendto(reply.to_wire(), peer)

    thread = threading.Thread(target=loop, daemon=True)
    thread.start()
    lab._sockets.append(sock)


def test_two_containers_talk_by_name(lab: Lab) -> None:
    fake_upstream(lab)
    lab.networks.create("app")
    one, two = lab.container(), lab.container()
    s1 = lab.networks.setup(A, one, [Attachment("app", aliases=("db",))], container_name="web")
    s2 = lab.networks.setup(B, two, [Attachment("app")], container_name="client")
    server = str(s2.interfaces[0].dns_server)
    assert server == str(s2.interfaces[0].gateway)
    web = str(s1.interfaces[0].address.ip)
    assert lab.resolve(two, server, "web") == [web]
    assert lab.resolve(two, server, "WEB.") == [web]
    assert lab.resolve(two, server, "db") == [web]
    assert lab.resolve(two, server, A[:12]) == [web]
    assert lab.resolve(two, server, "web", "AAAA") == []  # known name, no IPv6: no data
    reverse = ipaddress.IPv4Address(web).reverse_pointer
    assert lab.resolve(two, server, reverse, "PTR") == ["web."]
    # Everything else goes to the host's resolver.
    assert lab.resolve(two, server, "example.test") == ["192.0.2.99"]
    assert lab.resolve(two, server, "nothing.test") == ["NXDOMAIN"]
    lab.serve_tcp(one, 80)
    assert lab.ask(two, lab.resolve(two, server, "web")[0], 80) == str(s2.interfaces[0].address.ip)
    lab.networks.teardown(A)
    lab.networks.teardown(B)


def test_dns_answers_only_names_of_its_own_network(lab: Lab) -> None:
    fake_upstream(lab)
    lab.networks.create("left")
    lab.networks.create("right")
    one, two = lab.container(), lab.container()
    lab.networks.setup(A, one, [Attachment("left")], container_name="alpha")
    s2 = lab.networks.setup(B, two, [Attachment("right")], container_name="beta")
    server = str(s2.interfaces[0].dns_server)
    assert lab.resolve(two, server, "beta") == [str(s2.interfaces[0].address.ip)]
    assert lab.resolve(two, server, "alpha") == ["NXDOMAIN"]  # asked upstream, unknown


def test_published_port_from_localhost_and_another_namespace(lab: Lab) -> None:
    one = lab.container()
    status = lab.networks.setup(
        A,
        one,
        [Attachment("bridge")],
        parse_port_specs(["8080:80", "127.0.0.1:9090:90", "5353:53/udp", "8000-8009:80"]),
    )
    try:
        lab.serve_tcp(one, 80)
        lab.serve_tcp(one, 90)
        lab.serve_udp_echo(one, 53)
        ports = {(p.protocol, p.host_port, p.container_port) for p in status.ports}
        assert ports == {("tcp", 8080, 80), ("tcp", 9090, 90), ("udp", 5353, 53), ("tcp", 8000, 80)}
        gateway = str(status.interfaces[0].gateway)
        # From the host itself: the loopback source is masqueraded to the gateway.
        assert lab.ask(lab.host, "127.0.0.1", 8080) == gateway
        assert lab.ask(lab.host, "127.0.0.1", 9090) == gateway
        assert lab.ask(lab.host, "127.0.0.1", 8000) == gateway
        # From another machine: its own address arrives (as Docker keeps it).
        host_ip = str(UPLINK_HOST.ip)
        assert lab.ask(lab.outside, host_ip, 8080) == str(UPLINK_OUTSIDE.ip)
        assert lab.ask(lab.outside, host_ip, 9090, timeout=1) is None  # 127.0.0.1 only
        reply = lab.udp(lab.outside, host_ip, 5353, b"ping")
        assert reply == f"ping from {UPLINK_OUTSIDE.ip}".encode()
        # A container reaching its own published port through the host (hairpin).
        assert lab.ask(one, host_ip, 8080) == gateway
        # A port capsa does not publish is not caught by the rules.
        lab.serve_tcp(lab.host, 7000)
        assert lab.ask(lab.outside, host_ip, 7000) == str(UPLINK_OUTSIDE.ip)
    finally:
        status.close_reservations()
    lab.networks.teardown(A)
    assert lab.ask(lab.host, "127.0.0.1", 8080, timeout=1) is None


def test_port_already_bound_is_refused_and_nothing_is_left(lab: Lab) -> None:
    with entered(lab.host):
        taken = socket.socket()
        taken.bind(("0.0.0.0", 8081))
        taken.listen(1)
    with taken:
        one = lab.container()
        lab.networks.create("app")
        before = host_links(lab)
        with pytest.raises(Conflict, match=r"8081/tcp.*already in use"):
            lab.networks.setup(A, one, [Attachment("app")], parse_port_specs(["8081:80"]))
        assert lab.networks.state.endpoints() == []
        assert lab.networks.state.ports() == []
        assert host_links(lab) == before
        assert lab.sh(one, "ip -o link").stdout.count("\n") == 1  # lo only
    # A port another capsa container publishes is refused too.
    status = lab.networks.setup(A, one, [Attachment("app")], parse_port_specs(["8082:80"]))
    two = lab.container()
    with pytest.raises(Conflict, match="8082"):
        lab.networks.setup(B, two, [Attachment("app")], parse_port_specs(["8082:81"]))
    status.close_reservations()
    lab.networks.teardown(A)


def test_networks_cannot_reach_each_other(lab: Lab) -> None:
    lab.networks.create("red")
    lab.networks.create("blue")
    one, two, three = lab.container(), lab.container(), lab.container()
    s1 = lab.networks.setup(A, one, [Attachment("red")])
    lab.networks.setup(B, two, [Attachment("blue")])
    lab.networks.setup(C, three, [Attachment("red")])
    lab.serve_tcp(one, 80)
    target = str(s1.interfaces[0].address.ip)
    assert lab.ask(three, target, 80) is not None  # same network
    assert lab.ask(two, target, 80, timeout=1) is None  # another network
    # Both still get out.
    lab.serve_tcp(lab.outside, 80)
    assert lab.ask(two, str(UPLINK_OUTSIDE.ip), 80) == str(UPLINK_HOST.ip)  # masqueraded


def test_internal_network_has_no_way_out(lab: Lab) -> None:
    lab.networks.create("sealed", internal=True)
    lab.networks.create("open")
    inside, outside_ok = lab.container(), lab.container()
    s1 = lab.networks.setup(A, inside, [Attachment("sealed")], container_name="vault")
    lab.networks.setup(B, outside_ok, [Attachment("open")])
    assert s1.interfaces[0].gateway is None
    assert "default" not in lab.sh(inside, "ip route").stdout
    lab.serve_tcp(lab.outside, 80)
    assert lab.ask(outside_ok, str(UPLINK_OUTSIDE.ip), 80) == str(UPLINK_HOST.ip)
    assert lab.ask(inside, str(UPLINK_OUTSIDE.ip), 80, timeout=1) is None
    # Even with a route added by hand, the host does not forward it.
    gateway = lab.networks.get("sealed").gateway
    lab.sh(inside, f"ip route add default via {gateway}")
    assert lab.ask(inside, str(UPLINK_OUTSIDE.ip), 80, timeout=1) is None
    # Its own DNS still answers.
    assert lab.resolve(inside, str(gateway), "vault") == [str(s1.interfaces[0].address.ip)]
    with pytest.raises(InvalidArgument, match="internal"):
        lab.networks.setup(
            C, lab.container(), [Attachment("sealed")], parse_port_specs(["8083:80"])
        )


def test_fixed_address_range_and_reuse_after_reopen(lab: Lab) -> None:
    lab.networks.create(
        "fixed", subnet="10.123.0.0/24", gateway="10.123.0.254", ip_range="10.123.0.128/30"
    )
    one, two, three = lab.container(), lab.container(), lab.container()
    s1 = lab.networks.setup(A, one, [Attachment("fixed", ip="10.123.0.5", mac="02:00:00:00:00:05")])
    assert str(s1.interfaces[0].address) == "10.123.0.5/24"
    assert s1.interfaces[0].mac == "02:00:00:00:00:05"
    assert "02:00:00:00:00:05" in lab.sh(one, "ip link show eth0").stdout
    with pytest.raises(Conflict, match="already in use"):
        lab.networks.setup(B, two, [Attachment("fixed", ip="10.123.0.5")])
    s2 = lab.networks.setup(B, two, [Attachment("fixed")])
    assert str(s2.interfaces[0].address.ip) == "10.123.0.128"
    assert str(s2.interfaces[0].gateway) == "10.123.0.254"
    reopened = lab.reopen()
    try:
        s3 = reopened.setup(C, three, [Attachment("fixed")])
        assert str(s3.interfaces[0].address.ip) == "10.123.0.129"  # survives a restart
    finally:
        reopened.close()


def test_failures_are_one_line_and_leave_nothing(lab: Lab) -> None:
    lab.networks.create("first", subnet="10.124.0.0/16")
    with pytest.raises(Conflict, match="overlaps network first"):
        lab.networks.create("second", subnet="10.124.5.0/24")
    with pytest.raises(Conflict, match="overlaps the host's"):
        lab.networks.create("third", subnet="192.0.2.0/25")
    with pytest.raises(AlreadyExists, match="already exists"):
        lab.networks.create("first")
    one = lab.container()
    with pytest.raises(NotFound, match="network missing not found"):
        lab.networks.setup(A, one, [Attachment("missing")])
    with pytest.raises(NotFound, match="does not exist"):
        lab.networks.setup(A, lab.tmp / "nope", [Attachment("first")])
    assert [n.name for n in lab.networks.list_networks()] == ["bridge", "first"]
    assert lab.networks.state.endpoints() == []
    assert host_links(lab) == {"lo", "uplink"}
    # The one-line message the CLI prints.
    with pytest.raises(Conflict) as caught:
        lab.networks.create("second", subnet="10.124.5.0/24")
    assert "\n" not in str(caught.value)


def test_connect_and_disconnect_a_running_container(lab: Lab) -> None:
    fake_upstream(lab)
    lab.networks.create("one")
    lab.networks.create("two")
    first, second = lab.container(), lab.container()
    lab.networks.setup(A, first, [Attachment("one")], container_name="first")
    s2 = lab.networks.setup(B, second, [Attachment("two")], container_name="second")
    added = lab.networks.connect(A, first, Attachment("two", aliases=("extra",)))
    assert added.interface == "eth1"
    assert f"{added.address}" in lab.sh(first, "ip -o addr show eth1").stdout
    server = str(s2.interfaces[0].dns_server)
    assert lab.resolve(second, server, "first") == [str(added.address.ip)]
    assert lab.resolve(second, server, "extra") == [str(added.address.ip)]
    with pytest.raises(Conflict, match="already connected"):
        lab.networks.connect(A, first, Attachment("two"))
    lab.networks.disconnect(A, "two")
    assert "eth1" not in lab.sh(first, "ip -o link").stdout
    assert lab.resolve(second, server, "first") == ["NXDOMAIN"]
    with pytest.raises(NotFound):
        lab.networks.disconnect(A, "two")


def test_removing_a_network_removes_its_rules_and_bridge(lab: Lab) -> None:
    lab.networks.list_networks()  # makes the default network
    network = lab.networks.create("gone")
    one = lab.container()
    lab.networks.setup(A, one, [Attachment("gone")])
    assert network.bridge in host_links(lab)
    with pytest.raises(Conflict, match="active endpoints"):
        lab.networks.remove("gone")
    lab.networks.teardown(A)
    links = host_links(lab)
    assert network.bridge in links  # the bridge stays with the network, as docker0 does
    assert not any(name.startswith("veth") for name in links)
    lab.networks.remove("gone")
    assert network.bridge not in host_links(lab)
    with entered(lab.host):
        from capsa.kernel import nftables

        rules = str(nftables.run([{"list": {"table": {"family": "ip", "name": "capsa"}}}]))
    assert network.bridge not in rules
    assert "ip capsa" in host_ruleset(lab)  # the default network's rules stay
    with pytest.raises(Conflict, match="pre-defined"):
        lab.networks.remove("bridge")


def test_dns_server_comes_back_after_it_was_killed(lab: Lab) -> None:
    import os
    import signal
    import time

    lab.networks.create("app")
    one, two = lab.container(), lab.container()
    s1 = lab.networks.setup(A, one, [Attachment("app")], container_name="first")
    pid_file = lab.config.run_root / "network" / "dns.pid"
    pid = int(pid_file.read_text())
    os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + 5
    while os.path.exists(f"/proc/{pid}") and time.monotonic() < deadline:
        time.sleep(0.02)
    s2 = lab.networks.setup(B, two, [Attachment("app")], container_name="second")
    assert int(pid_file.read_text()) != pid
    server = str(s2.interfaces[0].dns_server)
    assert lab.resolve(two, server, "first") == [str(s1.interfaces[0].address.ip)]
    # The last container going stops it.
    lab.networks.teardown(A)
    lab.networks.teardown(B)
    assert not pid_file.exists()


def _connected_mss(netns: object, host: str, port: int) -> int:
    """The MSS a TCP connection from `netns` to host:port settles on."""
    with entered(netns):  # type: ignore[arg-type]
        conn = socket.create_connection((host, port), timeout=5)
    with conn:
        return conn.getsockopt(socket.IPPROTO_TCP, socket.TCP_MAXSEG)


def test_links_carry_64k_frames_and_the_way_out_keeps_1500(lab: Lab) -> None:
    one = lab.container()
    lab.networks.setup(A, one, [Attachment("bridge")])
    lab.networks.create("small", options={"mtu": "1400"})
    two = lab.container()
    lab.networks.setup(B, two, [Attachment("small")])
    lab.serve_tcp(lab.host, 7001)
    lab.serve_tcp(lab.outside, 7002)
    gateway = str(lab.networks.get("bridge").gateway)
    # The default bridge: 64 KiB frames on the link, Docker's 1500 by the default route.
    assert "mtu 65535" in lab.sh(one, "ip link show eth0").stdout
    assert "mtu 1500" in lab.sh(one, "ip route show default").stdout
    assert _connected_mss(one, gateway, 7001) > 9000  # capped by half the window at first
    assert _connected_mss(one, str(UPLINK_OUTSIDE.ip), 7002) <= 1460
    # An `mtu` option is the link's, as Docker's, and no route MTU is needed.
    assert "mtu 1400" in lab.sh(two, "ip link show eth0").stdout
    assert "mtu" not in lab.sh(two, "ip route show default").stdout
    assert _connected_mss(two, str(UPLINK_OUTSIDE.ip), 7002) <= 1360
    lab.networks.teardown(A)
    lab.networks.teardown(B)
