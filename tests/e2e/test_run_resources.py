"""Volumes, file-system flags, resource limits, terminals, devices and other runtimes,
as users of `docker run` type them."""

from __future__ import annotations

import os
import pty
import select
import shutil
import subprocess
import time
from pathlib import Path

import pytest
from e2e_harness import Capsa


def test_named_anonymous_and_bind_volumes(capsa: Capsa, tmp_path: Path) -> None:
    capsa("run", "--rm", "-v", "data:/data", "busybox", "sh", "-c", "echo kept > /data/f")
    assert capsa("run", "--rm", "-v", "data:/data:ro", "busybox", "cat", "/data/f").stdout == (
        "kept\n"
    )
    refused = capsa("run", "--rm", "-v", "data:/data:ro", "busybox", "sh", "-c",
                    "echo x > /data/g", code=1)  # fmt: skip
    assert "Read-only file system" in refused.stderr
    # a new named volume is filled from the image's directory, as Docker does
    etc = capsa("run", "--rm", "-v", "etcvol:/etc", "busybox", "ls", "/etc").stdout
    assert "passwd" in etc
    host = tmp_path / "host"
    host.mkdir()
    (host / "in.txt").write_text("from the host\n")
    out = capsa("run", "--rm", "-v", f"{host}:/mnt", "busybox", "sh", "-c",
                "cat /mnt/in.txt; echo back > /mnt/out.txt").stdout  # fmt: skip
    assert out == "from the host\n"
    assert (host / "out.txt").read_text() == "back\n"
    mounted = capsa("run", "--rm", "--mount", f"type=bind,src={host},dst=/m,readonly",
                    "busybox", "sh", "-c", "cat /m/in.txt; touch /m/x || echo ro")  # fmt: skip
    assert mounted.stdout == "from the host\nro\n"
    capsa("run", "--name", "anon", "-v", "/scratch", "busybox", "true")
    volume = next(m for m in capsa.inspect("anon")["Mounts"] if m["Destination"] == "/scratch")
    assert volume["Type"] == "volume" and len(volume["Name"]) == 64
    capsa("rm", "-v", "anon")
    assert volume["Name"] not in capsa("volume", "ls", "-q").stdout
    names = set(capsa("volume", "ls", "-q").stdout.split())
    assert {"data", "etcvol"} <= names
    capsa("volume", "rm", "data", "etcvol")


def test_read_only_root_tmpfs_workdir_and_user(capsa: Capsa) -> None:
    ro = capsa("run", "--rm", "--read-only", "--tmpfs", "/scratch", "busybox", "sh", "-c",
               "touch /x 2>/dev/null || echo root-ro; touch /scratch/y && echo tmpfs-rw; "
               "grep ' /scratch ' /proc/mounts | cut -d' ' -f3").stdout  # fmt: skip
    assert ro == "root-ro\ntmpfs-rw\ntmpfs\n"
    who = capsa("run", "--rm", "-u", "65534:65534", "-w", "/tmp/new", "busybox", "sh", "-c",
                "id -u; id -g; pwd").stdout  # fmt: skip
    assert who == "65534\n65534\n/tmp/new\n"


def test_memory_limit_oom_kill_and_pids_limit(capsa: Capsa) -> None:
    done = capsa(
        "run", "--name", "hog", "-m", "32m", "--memory-swap", "32m", "busybox", "sh", "-c",
        "x=aaaaaaaaaaaaaaaa; while true; do x=$x$x; done", code=137, timeout=120,
    )  # fmt: skip
    del done
    state = capsa.state("hog")
    assert state["OOMKilled"] is True and state["ExitCode"] == 137
    capsa("rm", "hog")
    forks = capsa("run", "--rm", "--pids-limit", "8", "busybox", "sh", "-c",
                  "for i in 1 2 3 4 5 6 7 8 9 10 11 12; do sleep 5 & done 2>&1; wait",
                  code=None)  # fmt: skip
    assert "fork" in forks.stdout + forks.stderr or "Resource" in forks.stdout + forks.stderr
    limits = capsa("run", "--rm", "--cpus", "0.5", "--ulimit", "nofile=256:512", "busybox",
                   "sh", "-c", "ulimit -n; ulimit -Hn").stdout  # fmt: skip
    assert limits == "256\n512\n"


def test_a_terminal_for_the_container(capsa: Capsa) -> None:
    primary, secondary = pty.openpty()
    process = subprocess.Popen(
        capsa.command("run", "--rm", "-it", "busybox", "sh", "-c", "tty; stty size; echo done"),
        env=capsa.env,
        stdin=secondary,
        stdout=secondary,
        stderr=secondary,
        start_new_session=True,
    )
    os.close(secondary)
    output = b""
    deadline = time.monotonic() + 30
    while b"done" not in output and time.monotonic() < deadline:
        ready, _, _ = select.select([primary], [], [], 1)
        if ready:
            try:
                output += os.read(primary, 4096)
            except OSError:
                break
    assert process.wait(timeout=30) == 0
    os.close(primary)
    text = output.decode(errors="replace")
    assert "/dev/pts/" in text, text
    assert "done" in text


def test_devices_and_privileged(capsa: Capsa) -> None:
    dev = capsa("run", "--rm", "--device", "/dev/null:/dev/mynull", "busybox", "sh", "-c",
                "echo x > /dev/mynull && ls -l /dev/mynull").stdout  # fmt: skip
    assert dev.startswith("crw")
    privileged = capsa(
        "run",
        "--rm",
        "--privileged",
        "busybox",
        "sh",
        "-c",
        "ls /dev | grep -c . ; mkdir /tmp/m && mount -t tmpfs none /tmp/m && echo mounted",
    ).stdout
    lines = privileged.split()
    assert int(lines[0]) > 10 and lines[-1] == "mounted"


@pytest.mark.skipif(shutil.which("runc") is None, reason="runc is not installed")
def test_the_same_container_under_runc(capsa: Capsa) -> None:
    out = capsa("run", "--rm", "--runtime", "runc", "busybox", "sh", "-c",
                "echo under runc; grep '^Seccomp:' /proc/self/status").stdout  # fmt: skip
    assert out.split() == ["under", "runc", "Seccomp:", "2"]
    capsa("run", "-d", "--name", "r", "--runtime", "runc", "busybox", "sleep", "600")
    capsa.wait_for("r", lambda s: s["Running"])
    assert capsa("exec", "r", "echo", "exec under runc").stdout == "exec under runc\n"
    capsa("stop", "-t", "1", "r")
    assert capsa.state("r")["Status"] == "exited"
    capsa("rm", "r")


def test_volumes_from_another_container(capsa: Capsa) -> None:
    capsa("run", "--name", "holder", "-v", "shared:/shared", "-v", "/anon", "busybox",
          "sh", "-c", "echo from holder > /shared/f; echo anon > /anon/g")  # fmt: skip
    out = capsa(
        "run",
        "--rm",
        "--volumes-from",
        "holder:ro",
        "busybox",
        "sh",
        "-c",
        "cat /shared/f /anon/g; touch /shared/x 2>/dev/null || echo ro",
    ).stdout
    assert out == "from holder\nanon\nro\n"
    capsa("run", "--rm", "--volumes-from", "nobody", "busybox", "true", code=125)
    capsa("rm", "-v", "holder")
    capsa("volume", "rm", "shared")
