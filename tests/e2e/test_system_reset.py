"""`capsa system reset`, as a user runs it on a root with a bit of everything: nothing of
that root is left on the host afterwards (processes, links, firewall table, mounts,
cgroups, state), the listings are those of a fresh install, and capsa works again.
Each test runs in a network namespace of its own (see conftest.py): every link and
nftables table in it is this root's."""

from __future__ import annotations

import glob
import os
import subprocess
from pathlib import Path

from e2e_harness import Capsa, mounts_under

from capsa.runtime.procinfo import is_alive


def _links(capsa: Capsa) -> list[str]:
    assert capsa.netns is not None
    out = subprocess.run(
        ["nsenter", f"--net={capsa.netns}", "ip", "-o", "link", "show"],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    return [line.split(":")[1].strip().split("@")[0] for line in out.splitlines()]


def _nft_tables(capsa: Capsa) -> str:
    assert capsa.netns is not None
    return subprocess.run(
        ["nsenter", f"--net={capsa.netns}", "nft", "list", "tables"],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip


def _processes_of(capsa: Capsa) -> list[str]:
    """Processes that name the root (the monitor host, the command server, the DNS
    server) or live in the test's namespace."""
    assert capsa.netns is not None
    netns = os.stat(capsa.netns).st_ino
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/cmdline", "rb") as f:
                cmdline = f.read().replace(b"\0", b" ").decode(errors="replace")
            in_netns = os.stat(f"/proc/{entry}/ns/net").st_ino == netns
        except OSError:
            continue  # gone meanwhile, or a kernel thread
        if (str(capsa.root) in cmdline or in_netns) and is_alive(int(entry)):
            found.append(f"{entry}: {cmdline}")
    return found


def _cgroups_of(ids: list[str]) -> list[str]:
    found = []
    for container_id in ids:
        found += glob.glob(f"/sys/fs/cgroup/*/capsa/{container_id}")
        found += glob.glob(f"/sys/fs/cgroup/capsa/{container_id}")
    return found


def _make_a_bit_of_everything(capsa: Capsa, context: Path) -> None:
    capsa("run", "-d", "--name", "up", "busybox", "sleep", "1000")
    capsa("run", "--name", "down", "busybox", "true")
    capsa("volume", "create", "vol")
    capsa("network", "create", "app")
    capsa("run", "-d", "--name", "web", "--network", "app", "-p", "8080:80",
          "-v", "vol:/data", "busybox", "httpd", "-f", "-p", "80", "-h", "/etc")  # fmt: skip
    context.mkdir()
    (context / "Containerfile").write_text("FROM busybox\nRUN echo built > /built\n")
    capsa("build", "-q", "-t", "built", str(context))
    capsa("tag", "busybox", "mine:1")
    capsa.wait_for("up", lambda s: s["Running"])
    capsa.wait_for("web", lambda s: s["Running"])


def test_reset_leaves_nothing_of_the_root_and_capsa_works_again(
    capsa: Capsa, tmp_path: Path
) -> None:
    _make_a_bit_of_everything(capsa, tmp_path / "context")
    ids = capsa.ids()
    pids = [capsa.state(name)["Pid"] for name in ("up", "web")]
    assert len(ids) == 3 and all(pids)
    assert len(_links(capsa)) > 1 + 2  # lo, two bridges, two veths
    assert "table ip capsa" in _nft_tables(capsa)
    assert _processes_of(capsa) and _cgroups_of(ids) and mounts_under(capsa.root)
    assert not capsa("builder", "du").stdout.startswith("Entries:\t0\n")

    done = capsa("system", "reset", "-f")
    assert done.stderr == ""

    assert not [pid for pid in pids if is_alive(pid)]
    assert _processes_of(capsa) == []
    assert _links(capsa) == ["lo"]
    assert "capsa" not in _nft_tables(capsa)
    assert mounts_under(capsa.root) == []
    assert _cgroups_of(ids) == []
    assert os.listdir(capsa.root) == []

    assert capsa("images", "-q").stdout == ""
    assert capsa("ps", "-aq").stdout == ""
    assert capsa("volume", "ls", "-q").stdout == ""
    assert capsa("network", "ls", "--format", "{{.Name}}").stdout == "bridge\n"
    assert capsa("builder", "du").stdout.startswith("Entries:\t0\n")
    capsa("image", "default")
    assert capsa("run", "--rm", "busybox", "echo", "again").stdout == "again\n"


def test_reset_answered_no_removes_nothing(capsa: Capsa) -> None:
    capsa("run", "-d", "--name", "up", "busybox", "sleep", "1000")
    capsa("volume", "create", "vol")
    capsa("network", "create", "app")
    capsa.wait_for("up", lambda s: s["Running"])
    links = _links(capsa)
    for answer in (b"n\n", b""):  # no, and no answer at all
        done = capsa("system", "reset", input=answer)
        assert "WARNING! This will remove:" in done.stdout
        assert f'the root directory: "{capsa.root}"' in done.stdout
        assert done.stdout.endswith("Are you sure you want to continue? [y/N] ")
    assert capsa.state("up")["Running"]
    assert capsa("volume", "ls", "-q").stdout == "vol\n"
    assert "app" in capsa("network", "ls").stdout
    assert capsa("images", "-q").stdout != ""
    assert _links(capsa) == links


def test_reset_refuses_a_root_that_is_not_capsas(capsa: Capsa, tmp_path: Path) -> None:
    foreign = tmp_path / "home"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("mine\n")
    done = Capsa(foreign, capsa.netns)("system", "reset", "-f", code=125)
    assert "does not look like a capsa root" in done.stderr
    assert os.listdir(foreign) == ["notes.txt"]
