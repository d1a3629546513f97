"""Fixtures for the engine's integration tests."""

from __future__ import annotations

from pathlib import Path

import pytest
from security_harness import build_rootfs


@pytest.fixture(scope="session")
def security_rootfs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_rootfs(tmp_path_factory.mktemp("security") / "rootfs")
