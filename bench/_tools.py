"""A command-line tool as the benchmarks drive it (capsa, podman, buildah): its argv
prefix and environment, run to completion with output captured, timed."""

from __future__ import annotations

import subprocess
import time


class Tool:
    def __init__(self, name: str, argv: list[str], env: dict[str, str]) -> None:
        self.name = name
        self.argv = argv
        self.env = env

    def __call__(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        done = subprocess.run(
            [*self.argv, *args],
            env=self.env,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            check=False,
            timeout=300,
        )
        if check and done.returncode != 0:
            raise RuntimeError(f"{self.name} {' '.join(args)}: {done.stderr.strip()}")
        return done

    def timed(self, *args: str) -> float:
        start = time.perf_counter()
        self(*args)
        return time.perf_counter() - start
