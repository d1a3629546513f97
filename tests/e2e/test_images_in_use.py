"""Images and the containers made from them: rmi and prune keep what a container uses,
and `system df` / `ps --size` count containers and volumes."""

from __future__ import annotations

import json

from e2e_harness import Capsa


def test_an_image_a_container_uses_is_kept(capsa: Capsa) -> None:
    capsa("tag", "busybox", "keep:1")
    capsa("create", "--name", "user", "keep:1", "true")
    assert capsa("rmi", "busybox").stdout == "Untagged: localhost/busybox:latest\n"  # another name
    refused = capsa("rmi", "keep:1", code=1)
    assert "user" in refused.stderr or "container" in refused.stderr
    assert "keep:1" in capsa("images", "--format", "{{.Repository}}:{{.Tag}}").stdout
    capsa("image", "prune", "-a", "-f")
    assert "keep:1" in capsa("images", "--format", "{{.Repository}}:{{.Tag}}").stdout
    capsa("rm", "user")
    assert "Untagged: keep:1" in capsa("rmi", "keep:1").stdout


def test_disk_usage_counts_containers_and_volumes(capsa: Capsa) -> None:
    capsa("volume", "create", "idle")
    script = "head -c 300000 /dev/zero > /big; head -c 5000 /dev/zero > /data/f"
    capsa("run", "--name", "writer", "-v", "data:/data", "busybox", "sh", "-c", script)
    rows = {
        row["Type"]: row
        for row in map(json.loads, capsa("system", "df", "--format", "json").stdout.splitlines())
    }
    assert rows["Containers"]["TotalCount"] == "1" and rows["Containers"]["Active"] == "0"
    assert rows["Containers"]["Size"].startswith("300")  # 300kB, with the shell's history
    assert rows["Local Volumes"]["TotalCount"] == "2"
    assert rows["Local Volumes"]["Active"] == "1"
    assert rows["Local Volumes"]["Reclaimable"] == "0B (0%)"
    verbose = capsa("system", "df", "-v").stdout
    assert "Containers space usage:" in verbose and "writer" in verbose
    assert "Local Volumes space usage:" in verbose and "idle" in verbose
    size = capsa("ps", "-a", "--size", "--format", "{{.Size}}").stdout.strip()
    assert size.startswith("300") and "(virtual " in size
    capsa("rm", "-v", "writer")
    capsa("volume", "rm", "idle")


def test_system_prune_removes_what_is_unused(capsa: Capsa) -> None:
    capsa("network", "create", "unused")
    capsa("network", "create", "used")
    capsa("run", "--name", "done", "busybox", "true")
    capsa("run", "-d", "--name", "alive", "--network", "used", "-v", "/anon", "busybox",
          "sleep", "600")  # fmt: skip
    capsa("run", "--name", "gone", "-v", "/anon2", "busybox", "true")
    out = capsa("system", "prune", "-f", "--volumes").stdout
    assert "Deleted Containers:" in out and "Deleted Networks:\nunused\n" in out
    assert capsa("ps", "-a", "--format", "{{.Names}}").stdout == "alive\n"
    networks = capsa("network", "ls", "--format", "{{.Name}}").stdout.split()
    assert "used" in networks and "unused" not in networks
    assert len(capsa("volume", "ls", "-q").stdout.split()) == 1  # alive's anonymous one
    assert "busybox" in capsa("images").stdout  # used by a container: kept even with -a
    capsa("system", "prune", "-a", "-f")
    assert "busybox" in capsa("images").stdout
    capsa("rm", "-f", "-v", "alive")
    capsa("network", "rm", "used")
