"""Benchmark: bulk TCP throughput through a published port against the same transfer over
plain loopback, in namespaces this benchmark makes (a "host", a "container" on capsa's
default bridge with -p 8080:5001, and another machine on the host's LAN), printed as MB/s
and ratios; plus the library's setup/teardown time for one container on the default
bridge, as the engine will call it. Needs root. Nothing touches the real host's network.

    python bench/network.py [--mib 1024] [--runs 7]

Target: a published port within 80% of loopback (ratio >= 0.80). The default bridge's
links carry 64 KiB frames (capsa.network.model.LINK_MTU); a client on a LAN is bounded by
its own link's MTU, so that row is printed beside a plain veth at 1500, and a network at
Docker's MTU (--opt mtu=1500) shows what the links' MTU buys.
"""

from __future__ import annotations

import argparse
import contextlib
import multiprocessing
import os
import secrets
import shutil
import socket
import statistics
import sys
import tempfile
import time
from pathlib import Path

CHUNK = 1 << 20
UPLINK_HOST = "192.0.2.1"


def _receiver(
    netns: str,
    port: int,
    ready: multiprocessing.synchronize.Event,
    result: multiprocessing.queues.Queue[float],
) -> None:
    from capsa.network.netns import entered

    os.sched_setaffinity(0, {0})  # each side on its own core, the same for every path
    with entered(netns):
        server = socket.socket()
        server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        server.bind(("0.0.0.0", port))
        server.listen(1)
    ready.set()
    conn, _ = server.accept()
    buffer = bytearray(CHUNK)
    view = memoryview(buffer)
    total = 0
    start = time.perf_counter()
    while True:
        got = conn.recv_into(view)
        if not got:
            break
        total += got
    result.put(total / (time.perf_counter() - start))
    conn.close()
    server.close()


def _sender(netns: str, host: str, port: int, size: int) -> None:
    from capsa.network.netns import entered

    os.sched_setaffinity(0, {1})
    with entered(netns):
        conn = socket.create_connection((host, port), timeout=30)
    payload = b"\0" * CHUNK
    for _ in range(size // CHUNK):
        conn.sendall(payload)
    conn.close()


def transfer(
    server_ns: str, listen_port: int, client_ns: str, host: str, port: int, size: int
) -> float:
    """Bytes per second received by a server in `server_ns` from a client in
    `client_ns` connecting to host:port (each in its own process: two cores)."""
    context = multiprocessing.get_context("fork")
    ready = context.Event()
    result: multiprocessing.queues.Queue[float] = context.Queue()
    receiver = context.Process(target=_receiver, args=(server_ns, listen_port, ready, result))
    receiver.start()
    if not ready.wait(10):
        receiver.kill()
        raise RuntimeError("the receiver did not start")
    sender = context.Process(target=_sender, args=(client_ns, host, port, size))
    sender.start()
    sender.join(120)
    rate = result.get(timeout=120)
    receiver.join(10)
    return float(rate)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--mib", type=int, default=1024, help="MiB per transfer")
    parser.add_argument("--runs", type=int, default=7, help="rounds (a transfer per path)")
    options = parser.parse_args()
    if os.geteuid() != 0:
        print("bench/network.py: skipped (needs root for network namespaces)")
        return 0
    from capsa.config import Config
    from capsa.kernel import nftables
    from capsa.network.model import Attachment, PortMapping
    from capsa.network.netlink import Netlink
    from capsa.network.netns import create_netns, entered, remove_netns, remove_netns_dir
    from capsa.network.networks import Networks

    if not nftables.available():
        print("bench/network.py: skipped (libnftables is not installed)")
        return 0
    tmp = Path(tempfile.mkdtemp(prefix="capsa-bench-net-"))
    outer = Config(root=tmp / "outer", run_root=tmp / "outer-run", runtime_root=tmp / "x")
    config = Config(root=tmp / "root", run_root=tmp / "run", runtime_root=tmp / "run" / "rt")
    made: list[Path] = []
    networks = None
    try:
        host = create_netns(outer, f"bench-host-{secrets.token_hex(3)}")
        outside = create_netns(outer, f"bench-out-{secrets.token_hex(3)}")
        container = create_netns(outer, f"bench-ctr-{secrets.token_hex(3)}")
        made += [host, outside, container]
        with entered(host), Netlink() as nl:
            nl.set_link(nl.link("lo").index, up=True)  # type: ignore[union-attr]
            fd = os.open(outside, os.O_RDONLY)
            index = nl.add_veth("uplink", "eth0", fd, "02:00:c0:00:02:02")
            os.close(fd)
            import ipaddress

            nl.add_address(index, ipaddress.IPv4Interface(f"{UPLINK_HOST}/24"))
            nl.set_link(index, up=True)
        with entered(outside), Netlink() as nl:
            eth0 = nl.link("eth0")
            assert eth0 is not None
            nl.add_address(eth0.index, ipaddress.IPv4Interface("192.0.2.2/24"))
            nl.set_link(eth0.index, up=True)
        resolv = tmp / "resolv.conf"
        resolv.write_text("nameserver 127.0.0.1\n")
        networks = Networks(config, host_netns=host, resolv_conf=resolv)
        networks.list_networks()

        # -- the library's own cost per container (default bridge, no ports) ----------
        setups, teardowns = [], []
        probe = create_netns(outer, "bench-probe")
        made.append(probe)
        for i in range(20):
            cid = f"{i:064d}"
            start = time.perf_counter()
            networks.setup(cid, probe, [Attachment("bridge")])
            setups.append(time.perf_counter() - start)
            start = time.perf_counter()
            networks.teardown(cid)
            teardowns.append(time.perf_counter() - start)
        print(f"setup (default bridge)      {statistics.median(setups) * 1000:7.1f} ms")
        print(f"teardown                    {statistics.median(teardowns) * 1000:7.1f} ms")

        # -- throughput ----------------------------------------------------------------
        status = networks.setup(
            "f" * 64, container, [Attachment("bridge")], [PortMapping(5001, 8080)]
        )
        networks.create("docker-mtu", options={"mtu": "1500"})
        small = create_netns(outer, f"bench-mtu1500-{secrets.token_hex(3)}")
        made.append(small)
        small_status = networks.setup(
            "e" * 64, small, [Attachment("docker-mtu")], [PortMapping(5001, 8081)]
        )
        size = options.mib * CHUNK
        loopback = "loopback (127.0.0.1)"
        published = "published, host localhost"
        paths = {
            loopback: (str(container), 5001, str(container), "127.0.0.1", 5001),
            published: (str(container), 5001, str(host), "127.0.0.1", 8080),
            "  on a network at mtu 1500": (str(small), 5001, str(host), "127.0.0.1", 8081),
            "published, LAN at mtu 1500": (str(container), 5001, str(outside), UPLINK_HOST, 8080),
            # That row's floor: the LAN's plain veth pair (other netns -> host), no capsa.
            "  plain veth at 1500": (str(host), 5002, str(outside), UPLINK_HOST, 5002),
        }
        samples: dict[str, list[float]] = {name: [] for name in paths}
        ratios: dict[str, list[float]] = {name: [] for name in paths}
        for _ in range(options.runs):
            # In rounds, each path measured right after a loopback transfer and taken as a
            # ratio of it: what the VM's neighbours do to a round falls on both alike.
            for name, args in paths.items():
                if name == loopback:
                    continue
                base_rate = transfer(*paths[loopback], size=size)
                rate = transfer(*args, size=size)
                samples[loopback].append(base_rate)
                samples[name].append(rate)
                ratios[name].append(rate / base_rate)
        print(f"{options.runs} rounds of {options.mib} MiB; a path's ratio is the median of its")
        print("rounds' ratios to the loopback transfer made just before it")
        for name in paths:
            rate = statistics.median(samples[name])
            ratio = ""
            if name != loopback:
                each = " ".join(f"{x:.2f}" for x in ratios[name])
                ratio = f"   {statistics.median(ratios[name]):.2f}x loopback   ({each})"
            print(f"{name:27} {rate / 1e6:8.0f} MB/s{ratio}")
        met = statistics.median(ratios[published]) >= 0.8
        print(f"target: {published} >= 0.80x loopback {'met' if met else 'NOT met'}")
        status.close_reservations()
        small_status.close_reservations()
        networks.teardown("f" * 64)
        networks.teardown("e" * 64)

        # `capsa run --rm` on the default bridge against podman's: bench/engine_run.py.
    finally:
        if networks is not None:
            with contextlib.suppress(Exception):
                networks.reset()
            networks.close()
        for path in made:
            remove_netns(path)
        remove_netns_dir(outer)
        remove_netns_dir(config)
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
