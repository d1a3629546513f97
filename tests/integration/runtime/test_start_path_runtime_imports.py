"""What a real `capsa-runtime run` imports, in every process it forks: nothing slow.

The unit guard (tests/unit/test_start_path_imports.py) checks module imports; this one
catches imports made lazily while a container starts, in the runtime and in its init."""

from __future__ import annotations

import os
import subprocess
import sys

from runtime_harness import CAPSA_RUNTIME, BundleFactory, Runtime, new_id

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "unit"))
from test_start_path_imports import FORBIDDEN


def test_a_run_imports_nothing_slow(runtime: Runtime, make_bundle: BundleFactory) -> None:
    baseline = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", "pass"],
        capture_output=True,
        text=True,
        check=True,
    ).stderr
    preloaded = {line.split("|")[-1].strip() for line in baseline.splitlines()}
    bundle = make_bundle(["true"])
    env = dict(os.environ, PYTHONPROFILEIMPORTTIME="1")
    result = subprocess.run(
        [CAPSA_RUNTIME, "--root", str(runtime.root), "run", "--bundle", str(bundle), new_id()],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    imported = {
        line.split("|")[-1].strip()
        for line in result.stderr.splitlines()
        if line.startswith("import time:")
    }
    assert sorted((imported & FORBIDDEN) - preloaded) == []
