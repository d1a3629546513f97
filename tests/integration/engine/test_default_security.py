"""Containers with the engine's security defaults, run by capsa-runtime: what works and
what is refused, checked from inside with real programs and a system call probe."""

from __future__ import annotations

from pathlib import Path

import pytest
from security_harness import CAPSA_RUNTIME, CONFIGS, check, run_bundle, security_bundle


@pytest.mark.parametrize("config", sorted(CONFIGS))
def test_security_settings_as_seen_from_inside(
    config: str, security_rootfs: Path, tmp_path: Path
) -> None:
    bundle = security_bundle(tmp_path / "bundle", security_rootfs, **CONFIGS[config][0])
    check(config, run_bundle(CAPSA_RUNTIME, bundle, tmp_path / "state"))
