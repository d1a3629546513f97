from __future__ import annotations

import os

import pytest


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if os.geteuid() == 0:
        return
    skip = pytest.mark.skip(reason="integration tests need root and a real kernel")
    for item in items:
        if "integration" in str(item.fspath):
            item.add_marker(skip)
