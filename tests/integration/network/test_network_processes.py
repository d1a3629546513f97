"""Many capsa processes at once, and capsa processes that die half-way."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

from network_lab import Lab, host_links

from capsa.network.model import Attachment, PortMapping
from capsa.network.netns import create_netns

SETUPS = textwrap.dedent(
    """
    import json, sys
    from pathlib import Path
    from capsa.config import Config
    from capsa.network.model import Attachment
    from capsa.network.netns import create_netns
    from capsa.network.networks import Networks

    root, run, host, outer, worker, count = sys.argv[1:7]
    config = Config(root=Path(root), run_root=Path(run), runtime_root=Path(run) / "rt")
    outer_config = Config(root=Path(outer), run_root=Path(outer), runtime_root=Path(outer))
    result = []
    with Networks(config, host_netns=host, resolv_conf=Path("/dev/null")) as networks:
        for i in range(int(count)):
            netns = create_netns(outer_config, f"w{worker}-{i}")
            cid = f"{int(worker):02d}{i:02d}".ljust(64, "0")
            status = networks.setup(cid, netns, [Attachment("shared")], container_name=cid[:4])
            result.append([cid, str(netns), str(status.interfaces[0].address.ip)])
    print(json.dumps(result))
    """
)


def test_concurrent_setups_never_share_an_address(lab: Lab) -> None:
    lab.networks.create("shared", subnet="10.125.0.0/24")
    outer = lab.tmp / "workers"
    workers = [
        subprocess.Popen(
            [
                sys.executable,
                "-c",
                SETUPS,
                str(lab.config.root),
                str(lab.config.run_root),
                str(lab.host),
                str(outer),
                str(n),
                "6",
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for n in range(4)
    ]
    results = []
    for worker in workers:
        out, err = worker.communicate(timeout=120)
        assert worker.returncode == 0, err
        results.extend(json.loads(out))
    lab.containers.extend(Path(netns) for _, netns, _ in results)
    addresses = [address for _, _, address in results]
    assert len(addresses) == 24
    assert len(set(addresses)) == 24
    stored = {str(e.ip) for e in lab.networks.state.endpoints()}
    assert stored == set(addresses)
    # Every address is really on its container's interface.
    for _, netns, address in results[::5]:
        assert f"inet {address}/24" in lab.sh(Path(netns), "ip -o addr show eth0").stdout
    # Another process, later, continues where they stopped.
    reopened = lab.reopen()
    try:
        status = reopened.setup("f" * 64, lab.container(), [Attachment("shared")])
        assert str(status.interfaces[0].address.ip) not in addresses
        for cid, _, _ in results:
            reopened.teardown(cid)
        reopened.teardown("f" * 64)
    finally:
        reopened.close()
    assert lab.networks.state.endpoints() == []
    assert host_links(lab) == {"lo", "uplink", lab.networks.get("shared").bridge}


CRASH = textwrap.dedent(
    """
    import os, signal, sys
    from pathlib import Path
    from capsa.config import Config
    from capsa.network.model import Attachment
    from capsa.network.networks import Networks
    from capsa.network.ports import parse_port_specs

    root, run, host, netns, where = sys.argv[1:6]
    config = Config(root=Path(root), run_root=Path(run), runtime_root=Path(run) / "rt")
    networks = Networks(config, host_netns=host, resolv_conf=Path("/dev/null"))
    if where == "midway":
        # Killed after the links are made, before the rules and the DNS server.
        def die(*args, **kwargs):
            os.kill(os.getpid(), signal.SIGKILL)
        Networks._publish = die
    networks.setup("d" * 64, netns, [Attachment("app", aliases=("crashy",))],
                   parse_port_specs(["8084:80"]), container_name="crashy")
    os.kill(os.getpid(), signal.SIGKILL)  # the engine dies with the container running
    """
)


def _crash(lab: Lab, netns: Path, where: str) -> None:
    process = subprocess.run(
        [
            sys.executable,
            "-c",
            CRASH,
            str(lab.config.root),
            str(lab.config.run_root),
            str(lab.host),
            str(netns),
            where,
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert process.returncode == -9, process.stderr


def test_teardown_after_a_crash_removes_everything(lab: Lab) -> None:
    network = lab.networks.create("app")
    for where in ("midway", "after"):
        netns = create_netns(lab.outer, f"crash-{where}")
        lab.containers.append(netns)
        _crash(lab, netns, where)
        assert network.bridge in host_links(lab)
        assert len(lab.networks.state.endpoints()) == 1
        lab.networks.teardown("d" * 64, netns)
        lab.networks.teardown("d" * 64, netns)  # again: the engine retries after a crash
        assert host_links(lab) == {"lo", "uplink", network.bridge}  # no veth left
        assert lab.networks.state.endpoints() == []
        assert lab.networks.state.ports() == []
        assert lab.sh(netns, "ip -o link").stdout.count("\n") == 1  # lo only
        assert not (lab.config.run_root / "network" / "dns.sock").exists()
        # The port and the address are free again.
        status = lab.networks.setup("e" * 64, netns, [Attachment("app")], [PortMapping(80, 8084)])
        status.close_reservations()
        lab.networks.teardown("e" * 64)
