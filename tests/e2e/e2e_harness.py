"""The `capsa` command line as tests type it (see conftest.py for the fixture)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

CAPSA = str(Path(sys.executable).with_name("capsa"))


def mounts_under(path: Path) -> list[str]:
    with open("/proc/self/mountinfo") as f:
        return [line.split()[4] for line in f if line.split()[4].startswith(str(path))]


def cgroups_of(ids: list[str]) -> list[str]:
    found = []
    for base in ("/sys/fs/cgroup", "/sys/fs/cgroup/memory", "/sys/fs/cgroup/pids"):
        for container_id in ids:
            path = os.path.join(base, "capsa", container_id)
            if os.path.exists(path):
                found.append(path)
    return found


class Capsa:
    """Runs `capsa` with CAPSA_ROOT set to this test's root, inside the test's own
    network namespace (`netns`, when given): its bridges, firewall table and DNS server
    are then the test's alone, and go with the namespace."""

    def __init__(self, root: Path, netns: str | None = None) -> None:
        self.root = root
        self.netns = netns
        self.env = {**os.environ, "CAPSA_ROOT": str(root)}

    def command(self, *args: str) -> list[str]:
        prefix = ["nsenter", f"--net={self.netns}"] if self.netns else []
        return [*prefix, CAPSA, *args]

    def __call__(
        self,
        *args: str,
        code: int | None = 0,
        input: bytes | None = None,
        timeout: float = 60,
    ) -> subprocess.CompletedProcess[str]:
        raw = subprocess.run(
            self.command(*args),
            env=self.env,
            input=input,
            capture_output=True,
            check=False,
            timeout=timeout,
        )
        done = subprocess.CompletedProcess(
            raw.args, raw.returncode, raw.stdout.decode(), raw.stderr.decode()
        )
        if code is not None:
            assert done.returncode == code, (args, done.returncode, done.stdout, done.stderr)
        return done

    def popen(self, *args: str, **kwargs: Any) -> subprocess.Popen[bytes]:
        return subprocess.Popen(self.command(*args), env=self.env, **kwargs)

    def inspect(self, name: str) -> dict[str, Any]:
        documents = json.loads(self("inspect", name).stdout)
        assert len(documents) == 1
        document: dict[str, Any] = documents[0]
        return document

    def state(self, name: str) -> dict[str, Any]:
        state: dict[str, Any] = self.inspect(name)["State"]
        return state

    def wait_for(self, name: str, predicate: Any, timeout: float = 20.0) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while True:
            found = self("inspect", "--type", "container", name, code=None)
            state = json.loads(found.stdout)[0]["State"] if found.returncode == 0 else None
            if state is not None and predicate(state):
                return dict(state)
            assert time.monotonic() < deadline, f"timed out waiting on {name}: {state}"
            time.sleep(0.05)

    def ids(self) -> list[str]:
        return self("ps", "-aq", "--no-trunc").stdout.split()
