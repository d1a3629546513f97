"""End-to-end tests: the `capsa` command line as a user types it, on a temporary root
with the default busybox image. Every test leaves nothing behind: its containers are
removed, its monitor spawner stopped, and the teardown checks that no mount, cgroup or
process of it is left."""

from __future__ import annotations

import os
import secrets
import shutil
import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from e2e_harness import Capsa, cgroups_of, mounts_under


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if os.geteuid() == 0:
        return
    skip = pytest.mark.skip(reason="end-to-end tests need root and a real kernel")
    for item in items:
        if "e2e" in str(item.fspath):
            item.add_marker(skip)


def _stop_spawner(root: Path) -> None:
    pid_file = root / "run" / "monitor.pid"
    try:
        pid = int(pid_file.read_text())
    except (OSError, ValueError):
        return
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            if b"capsa.engine.spawner" not in f.read():
                return
        os.kill(pid, signal.SIGKILL)
    except (OSError, ProcessLookupError):
        pass


def _kill_processes_in(netns: str) -> None:
    """Whatever still runs in the test's namespace (a DNS server, a stray monitor)."""
    try:
        wanted = os.stat(netns).st_ino
    except OSError:
        return
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) == os.getpid():
            continue
        try:
            if os.stat(f"/proc/{entry}/ns/net").st_ino == wanted:
                os.kill(int(entry), signal.SIGKILL)
        except OSError:
            pass


@pytest.fixture
def capsa(tmp_path: Path) -> Iterator[Capsa]:
    if not any(os.path.exists(p) for p in ("/bin/busybox", "/usr/bin/busybox")):
        pytest.skip("busybox-static is not installed")
    root = tmp_path / "root"
    name = f"capsa-e2e-{secrets.token_hex(4)}"
    subprocess.run(["ip", "netns", "add", name], check=True)
    netns = f"/run/netns/{name}"
    subprocess.run(["ip", "-n", name, "link", "set", "lo", "up"], check=True)
    tool = Capsa(root, netns)
    made: list[str] = []
    try:
        tool("image", "default")
        yield tool
    finally:
        made = tool("ps", "-aq", "--no-trunc", code=None).stdout.split()
        if made:
            tool("rm", "-f", "-v", *made, code=None)
        _stop_spawner(root)
        _kill_processes_in(netns)
        subprocess.run(["ip", "netns", "delete", name], check=False)
        # capsa's own shared mount of its netns directory, as `ip netns` keeps /run/netns
        netns_dir = str(root / "run" / "netns")
        left_mounts = [m for m in mounts_under(root) if m != netns_dir]
        left_cgroups = cgroups_of(made)
        for mount in reversed(mounts_under(root)):
            subprocess.run(["umount", "-l", mount], check=False)
        shutil.rmtree(root, ignore_errors=True)
        assert not left_mounts, f"mounts left behind: {left_mounts}"
        assert not left_cgroups, f"cgroups left behind: {left_cgroups}"
