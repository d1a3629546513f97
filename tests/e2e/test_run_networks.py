"""Containers on networks, as a user runs them: the default bridge, user-defined networks
with DNS by name and alias, published ports, -P, connect/disconnect, host and none, and
isolation. Each test runs in a network namespace of its own (see conftest.py)."""

from __future__ import annotations

import json
import subprocess
import sys
import time

from e2e_harness import Capsa

FETCH = "import sys, urllib.request; sys.stdout.write(urllib.request.urlopen(sys.argv[1], timeout=2).read().decode())"  # noqa: E501


def _host_wget(capsa: Capsa, url: str) -> str:
    """Fetch from the test's "host" (its namespace), retrying while a server starts."""
    assert capsa.netns is not None
    deadline = time.monotonic() + 10
    while True:
        done = subprocess.run(
            ["nsenter", f"--net={capsa.netns}", sys.executable, "-c", FETCH, url],
            capture_output=True,
            text=True,
            check=False,
        )
        if done.returncode == 0 or time.monotonic() > deadline:
            return done.stdout
        time.sleep(0.1)


def test_default_bridge_gives_an_address_a_route_and_etc_files(capsa: Capsa) -> None:
    out = capsa(
        "run", "--rm", "--name", "plain", "--add-host", "db:10.1.2.3", "busybox", "sh", "-c",
        "ip -o -4 addr show eth0; ip route; cat /etc/hosts; hostname",
    ).stdout  # fmt: skip
    assert "inet 10.99." in out
    assert "default via 10.99.0.1 dev eth0" in out
    assert "10.1.2.3\tdb" in out
    hostname = out.split()[-1]
    address = out.split("inet ")[1].split("/")[0]
    assert f"{address}\t{hostname}" in out


def test_user_network_dns_aliases_and_published_ports(capsa: Capsa) -> None:
    capsa("network", "create", "app")
    capsa("run", "-d", "--name", "web", "--network", "app", "--network-alias", "www",
          "-p", "8080:80", "busybox", "httpd", "-f", "-p", "80", "-h", "/etc")  # fmt: skip
    capsa.wait_for("web", lambda s: s["Running"])
    client = capsa(
        "run", "--rm", "--network", "app", "busybox", "sh", "-c",
        "for i in 1 2 3 4 5 6 7 8 9 10; do wget -qO- http://www/hostname && break; "
        "sleep 0.2; done; wget -qO- http://web/hostname",
    ).stdout  # fmt: skip
    web = capsa.inspect("web")
    short = web["Id"][:12]
    assert client == f"{short}\n{short}\n"
    assert _host_wget(capsa, "http://127.0.0.1:8080/hostname") == f"{short}\n"
    settings = web["NetworkSettings"]
    assert settings["Ports"] == {"80/tcp": [{"HostIp": "0.0.0.0", "HostPort": "8080"}]}
    assert settings["Networks"]["app"]["Aliases"] == ["www"]
    assert settings["Networks"]["app"]["IPAddress"].startswith("10.")
    assert capsa("port", "web").stdout == "80/tcp -> 0.0.0.0:8080\n"
    assert capsa("port", "web", "80").stdout == "0.0.0.0:8080\n"
    capsa("port", "web", "81", code=125)
    assert "0.0.0.0:8080->80/tcp" in capsa("ps").stdout
    busy = capsa("run", "--rm", "-p", "8080:80", "busybox", "true", code=125)
    assert "8080" in busy.stderr
    capsa("rm", "-f", "web")
    assert capsa("network", "rm", "app").stdout == "app\n"  # nothing left on it


def test_publish_all_picks_free_ports_for_exposed_ones(capsa: Capsa) -> None:
    capsa("run", "-d", "--name", "exposed", "--expose", "80", "-P", "busybox",
          "httpd", "-f", "-p", "80", "-h", "/etc")  # fmt: skip
    capsa.wait_for("exposed", lambda s: s["Running"])
    line = capsa("port", "exposed").stdout.strip()
    assert line.startswith("80/tcp -> 0.0.0.0:")
    host_port = int(line.rsplit(":", 1)[1])
    assert host_port > 1024
    assert _host_wget(capsa, f"http://127.0.0.1:{host_port}/hostname").strip()


def test_connect_disconnect_and_isolation(capsa: Capsa) -> None:
    capsa("network", "create", "one")
    capsa("network", "create", "two")
    capsa("run", "-d", "--name", "srv", "--network", "one", "busybox",
          "httpd", "-f", "-p", "80", "-h", "/etc")  # fmt: skip
    capsa.wait_for("srv", lambda s: s["Running"])
    address = capsa.inspect("srv")["NetworkSettings"]["Networks"]["one"]["IPAddress"]
    # another network cannot reach it, by name or by address
    cut = capsa("run", "--rm", "--network", "two", "busybox", "sh", "-c",
                f"wget -qO- -T 2 http://{address}/hostname || echo unreachable")  # fmt: skip
    assert cut.stdout.strip().endswith("unreachable")
    capsa("run", "-d", "--name", "cli", "--network", "two", "busybox", "sleep", "600")
    capsa("network", "connect", "one", "cli")
    reach = capsa("exec", "cli", "sh", "-c",
                  "for i in 1 2 3 4 5 6 7 8 9 10; do wget -qO- http://srv/hostname && break; "
                  "sleep 0.2; done").stdout  # fmt: skip
    assert reach.strip() == capsa.inspect("srv")["Id"][:12]
    assert set(capsa.inspect("cli")["NetworkSettings"]["Networks"]) == {"one", "two"}
    capsa("network", "disconnect", "one", "cli")
    assert set(capsa.inspect("cli")["NetworkSettings"]["Networks"]) == {"two"}
    assert "eth1" not in capsa("exec", "cli", "ip", "-o", "link").stdout
    capsa("rm", "-f", "srv", "cli")


def test_host_and_none_modes(capsa: Capsa) -> None:
    assert capsa.netns is not None
    host = capsa("run", "--rm", "--network", "host", "busybox", "ip", "-o", "link").stdout
    inside_test = subprocess.run(
        ["nsenter", f"--net={capsa.netns}", "ip", "-o", "link"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout

    def names(text: str) -> set[str]:
        return {line.split(":")[1].strip().split("@")[0] for line in text.splitlines()}

    assert names(host) == names(inside_test)  # the namespace capsa runs in, as it is
    none = capsa("run", "--rm", "--network", "none", "busybox", "ip", "-o", "link").stdout
    assert none.count("\n") == 1 and "lo:" in none
    bad = capsa("run", "--rm", "--network", "none", "-p", "80:80", "busybox", "true", code=125)
    assert "publish" in bad.stderr
    missing = capsa("create", "--network", "nosuch", "busybox", code=125)
    assert "network nosuch not found" in missing.stderr
    assert capsa.ids() == []


def test_networks_are_torn_down_after_exit_and_rm(capsa: Capsa) -> None:
    capsa("run", "--name", "gone", "-p", "9090:80", "busybox", "true")
    state = capsa.inspect("gone")
    assert state["NetworkSettings"]["Ports"] == {}
    assert state["NetworkSettings"]["SandboxKey"] == ""
    # the port is free again: a second container can publish it
    capsa("run", "--rm", "-p", "9090:80", "busybox", "true")
    capsa("rm", "gone")
    assert capsa.netns is not None
    # the veth pair goes with the container's namespace, the kernel's work in the
    # background: give it a moment
    deadline = time.monotonic() + 5
    while True:
        links = subprocess.run(["nsenter", f"--net={capsa.netns}", "ip", "-o", "link"],
                               capture_output=True, text=True, check=True).stdout  # fmt: skip
        if "@if" not in links or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    assert "veth" not in links and "@if" not in links
    netns_left = list((capsa.root / "run" / "netns").glob("capsa-*"))
    assert netns_left == []
    assert json.loads(capsa("network", "inspect", "bridge").stdout)[0]["Containers"] == {}
