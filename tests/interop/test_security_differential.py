"""The engine's security settings (capabilities, seccomp profile, --security-opt) give the
same container the same view under Debian's runc as under capsa-runtime: the same bundle,
the same answer from every probe."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "integration" / "engine"))
from security_harness import (
    CAPSA_RUNTIME,
    CONFIGS,
    build_rootfs,
    check,
    run_bundle,
    security_bundle,
)

RUNC = shutil.which("runc")

pytestmark = pytest.mark.skipif(RUNC is None, reason="runc is not installed (apt-get install runc)")


@pytest.fixture(scope="module")
def rootfs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_rootfs(tmp_path_factory.mktemp("security") / "rootfs")


@pytest.mark.parametrize("config", sorted(CONFIGS))
def test_runc_sees_what_capsa_runtime_sees(config: str, rootfs: Path, tmp_path: Path) -> None:
    assert RUNC is not None
    bundle = security_bundle(tmp_path / "bundle", rootfs, **CONFIGS[config][0])
    by_runc = run_bundle(RUNC, bundle, tmp_path / "runc-state")
    by_capsa = run_bundle(CAPSA_RUNTIME, bundle, tmp_path / "capsa-state")
    check(config, by_runc)
    assert by_runc == by_capsa
