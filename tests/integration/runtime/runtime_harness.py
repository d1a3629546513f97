"""Helpers for driving capsa-runtime (and runc, for differential tests) as a caller
would: through its command line, with a state root and bundles of the test's own."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

CAPSA_RUNTIME = os.path.join(os.path.dirname(sys.executable), "capsa-runtime")


class Runtime:
    """One runtime binary with its own --root."""

    def __init__(self, binary: str, root: Path) -> None:
        self.binary = binary
        self.root = root

    def __call__(
        self, *args: str, check: bool = True, input: str | None = None, timeout: float = 60
    ) -> subprocess.CompletedProcess[str]:
        # Files, not pipes: a detached container inherits our stdio and keeps it open.
        with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
            process = subprocess.run(
                [self.binary, "--root", str(self.root), *args],
                input=input.encode() if input is not None else None,
                stdin=None if input is not None else subprocess.DEVNULL,
                stdout=out,
                stderr=err,
                timeout=timeout,
                check=False,
            )
            out.seek(0)
            err.seek(0)
            result = subprocess.CompletedProcess(
                process.args, process.returncode, out.read().decode(), err.read().decode()
            )
        if check and result.returncode != 0:
            raise AssertionError(
                f"{self.binary} {' '.join(args)} exited {result.returncode}: "
                f"{result.stderr.strip()}"
            )
        return result

    def state(self, container_id: str) -> dict[str, Any]:
        data: dict[str, Any] = json.loads(self("state", container_id).stdout)
        return data

    def cleanup(self) -> None:
        if not self.root.exists():
            return
        for name in os.listdir(self.root):
            self("delete", "--force", name, check=False)
        shutil.rmtree(self.root, ignore_errors=True)


BundleFactory = Callable[..., Path]


def new_id() -> str:
    return f"t{uuid.uuid4().hex[:12]}"


def cgroup_leftovers(container_id: str) -> list[str]:
    found = []
    for hierarchy in Path("/sys/fs/cgroup").iterdir():
        for path in hierarchy.rglob(container_id) if hierarchy.is_dir() else []:
            found.append(str(path))
    return found
