"""Terminals without a console socket: capsa-runtime relays the container's pty to its
own stdio (in raw mode), as runc does for `run`/`exec -t` in the foreground."""

from __future__ import annotations

import json
import os
import pty
import select
import subprocess
import time
from pathlib import Path
from typing import Any

from runtime_harness import CAPSA_RUNTIME, BundleFactory, Runtime, new_id


def run_on_pty(argv: list[str], timeout: float = 30) -> tuple[int, str]:
    """Run argv with a new pty as its stdin/stdout/stderr; return (status, output)."""
    master, slave = pty.openpty()
    proc = subprocess.Popen(
        argv, stdin=slave, stdout=slave, stderr=slave, close_fds=True, start_new_session=True
    )
    os.close(slave)
    output = b""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        ready, _, _ = select.select([master], [], [], 0.1)
        if ready:
            try:
                chunk = os.read(master, 4096)
            except OSError:
                break
            if not chunk:
                break
            output += chunk
        elif proc.poll() is not None:
            break
    os.close(master)
    return proc.wait(timeout=10), output.decode(errors="replace")


def test_run_with_a_terminal_relays_it(runtime: Runtime, make_bundle: BundleFactory) -> None:
    def edit(spec: dict[str, Any]) -> None:
        spec["process"]["terminal"] = True

    bundle = make_bundle(["sh", "-c", "tty; test -t 0 && echo stdin-is-tty; exit 3"], edit)
    status, output = run_on_pty(
        [CAPSA_RUNTIME, "--root", str(runtime.root), "run", "--bundle", str(bundle), new_id()]
    )
    assert status == 3, output
    lines = output.replace("\r", "").split("\n")
    assert lines[0].startswith("/dev/pts/")
    assert "stdin-is-tty" in lines


def test_exec_tty_relays_it(runtime: Runtime, make_bundle: BundleFactory, tmp_path: Path) -> None:
    cid = new_id()
    runtime("run", "-d", "--bundle", str(make_bundle(["sleep", "300"])), cid)
    status, output = run_on_pty(
        [
            CAPSA_RUNTIME,
            "--root",
            str(runtime.root),
            "exec",
            "-t",
            cid,
            "sh",
            "-c",
            "tty; stty size >/dev/null && echo sized",
        ]
    )
    assert status == 0, output
    lines = output.replace("\r", "").split("\n")
    assert lines[0].startswith("/dev/pts/") and "sized" in lines
    # Detached with a tty needs somewhere to send the terminal.
    result = runtime("exec", "-t", "-d", cid, "true", check=False)
    assert result.returncode == 1 and "console-socket" in result.stderr
    runtime("delete", "-f", cid)


def test_ps_table_lists_the_containers_processes(
    runtime: Runtime, make_bundle: BundleFactory
) -> None:
    cid = new_id()
    runtime("run", "-d", "--bundle", str(make_bundle(["sleep", "300"])), cid)
    pid = runtime.state(cid)["pid"]
    table = runtime("ps", cid).stdout.splitlines()
    assert table[0].split()[:2] == ["UID", "PID"]
    assert [int(line.split()[1]) for line in table[1:]] == [pid]
    assert json.loads(runtime("ps", "-f", "json", cid).stdout) == [pid]
    runtime("delete", "-f", cid)
