from __future__ import annotations

import os

import pytest


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if os.geteuid() == 0:
        return
    skip = pytest.mark.skip(reason="interop tests drive root-only tools (runc, podman)")
    for item in items:
        if "interop" in str(item.fspath):
            item.add_marker(skip)
