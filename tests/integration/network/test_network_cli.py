"""`capsa network` as a user types it, run inside the lab's host namespace."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from network_lab import Lab, host_links

from capsa.network.netns import create_netns, entered, remove_netns

CAPSA = str(Path(sys.executable).with_name("capsa"))


def capsa(lab: Lab, *args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, CAPSA_ROOT=str(lab.config.root), CAPSA_RUN_ROOT=str(lab.config.run_root))
    return subprocess.run(
        ["nsenter", f"--net={lab.host}", CAPSA, "network", *args],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
        check=False,
    )


def test_create_ls_inspect_rm_prune(lab: Lab) -> None:
    made = capsa(
        lab,
        "create",
        "--subnet",
        "10.126.0.0/24",
        "--gateway",
        "10.126.0.254",
        "--ip-range",
        "10.126.0.16/28",
        "--label",
        "tier=front",
        "-o",
        "mtu=1400",
        "front",
    )
    assert made.returncode == 0, made.stderr
    network_id = made.stdout.strip()
    assert len(network_id) == 64
    assert capsa(lab, "create", "--internal", "back").returncode == 0
    listing = capsa(lab, "ls")
    assert listing.stdout.splitlines()[0].split() == ["NETWORK", "ID", "NAME", "DRIVER", "SCOPE"]
    assert {line.split()[1] for line in listing.stdout.splitlines()[1:]} == {
        "bridge",
        "front",
        "back",
    }
    assert capsa(lab, "ls", "-q", "--no-trunc", "-f", "name=fro").stdout.strip() == network_id
    assert (
        capsa(lab, "ls", "--filter", "label=tier=front", "--format", "{{.Name}}").stdout
        == "front\n"
    )
    assert capsa(
        lab, "ls", "-f", "type=custom", "--format", "{{.Name}}:{{.Internal}}"
    ).stdout.splitlines() == ["back:true", "front:false"]
    document = json.loads(capsa(lab, "inspect", "front").stdout)[0]
    assert document["Id"] == network_id
    assert document["IPAM"]["Config"] == [
        {"Subnet": "10.126.0.0/24", "Gateway": "10.126.0.254", "IPRange": "10.126.0.16/28"}
    ]
    assert document["Labels"] == {"tier": "front"}
    assert document["Options"] == {"com.docker.network.driver.mtu": "1400"}
    assert document["Driver"] == "bridge" and document["Scope"] == "local"
    assert capsa(lab, "inspect", "-f", "{{.Internal}}", "back").stdout == "true\n"

    failed = capsa(lab, "create", "--subnet", "10.126.0.128/25", "other")
    assert failed.returncode == 125
    assert failed.stderr.count("\n") == 1 and "overlaps network front" in failed.stderr
    missing = capsa(lab, "rm", "nope")
    assert missing.returncode != 0 and "network nope not found" in missing.stderr
    assert capsa(lab, "rm", "-f", "nope").returncode == 0

    declined = capsa(lab, "prune", stdin="n\n")
    assert "Are you sure" in declined.stdout
    assert len(capsa(lab, "ls", "-q").stdout.split()) == 3
    pruned = capsa(lab, "prune", "-f", "--filter", "label=tier")
    assert pruned.stdout == "Deleted Networks:\nfront\n"
    assert capsa(lab, "rm", "back").stdout == "back\n"
    assert capsa(lab, "ls", "--format", "{{.Name}}").stdout == "bridge\n"


def test_connect_and_disconnect_by_netns(lab: Lab) -> None:
    assert capsa(lab, "create", "app").returncode == 0
    netns = create_netns(lab.outer, "cli-container")
    lab.containers.append(netns)
    cid = "9" * 64
    done = capsa(
        lab,
        "connect",
        "--alias",
        "api",
        "--ip",
        "10.100.0.77",
        "--netns",
        str(netns),
        "--name",
        "svc",
        "app",
        cid,
    )
    assert done.returncode == 0, done.stderr
    assert "10.100.0.77/24" in lab.sh(netns, "ip -o addr show eth0").stdout
    document = json.loads(capsa(lab, "inspect", "app").stdout)[0]
    assert document["Containers"][cid]["Name"] == "svc"
    assert document["Containers"][cid]["IPv4Address"] == "10.100.0.77/24"
    gateway = document["IPAM"]["Config"][0]["Gateway"]
    assert lab.resolve(netns, gateway, "api") == ["10.100.0.77"]
    busy = capsa(lab, "rm", "app")
    assert busy.returncode == 125 and "active endpoints (svc)" in busy.stderr
    assert capsa(lab, "disconnect", "app", cid).returncode == 0
    assert "eth0" not in lab.sh(netns, "ip -o link").stdout
    assert capsa(lab, "rm", "app").returncode == 0
    assert host_links(lab) == {"lo", "uplink"}


def test_named_network_namespaces(lab: Lab) -> None:
    path = create_netns(lab.config, "helper-check")
    assert path == lab.config.run_root / "netns" / "helper-check"
    with entered(path):
        own = os.stat("/proc/thread-self/ns/net").st_ino
    assert own == os.stat(path).st_ino != os.stat("/proc/self/ns/net").st_ino
    remove_netns(path)
    remove_netns(path)  # nothing left: no error
    assert not path.exists()
    with open("/proc/self/mounts") as mounts:
        assert str(path) not in mounts.read()
