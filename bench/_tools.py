"""A command-line tool as the benchmarks drive it (capsa, podman, buildah): its argv
prefix and environment, run to completion with output captured, timed."""

from __future__ import annotations

import contextlib
import subprocess
import time
from collections.abc import Iterator

# The parent cgroups capsa's and capsa-runtime's containers are made under.
PARENT_CGROUPS = ("capsa", "capsa-runtime")


@contextlib.contextmanager
def parent_cgroups_removed() -> Iterator[None]:
    """Remove, afterwards, the parent cgroups the benchmark made (once empty again)."""
    from capsa.cgroups.manager import remove_if_empty, top_level_dirs

    before = top_level_dirs(PARENT_CGROUPS)
    try:
        yield
    finally:
        remove_if_empty(top_level_dirs(PARENT_CGROUPS) - before)


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
