"""Fixtures of the registry tests: the servers under test, each on its own port and
storage directory, stopped at the end whatever happens."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from registry_servers import (
    DOCKER,
    DOCKER_REGISTRY,
    KINDS,
    Server,
    start_capsa,
    start_docker_registry,
)


def start(kind: str, tmp: Path) -> Server:
    if kind == DOCKER:
        if DOCKER_REGISTRY is None:
            pytest.skip("docker-registry is not installed (apt-get install docker-registry)")
        return start_docker_registry(tmp)
    return start_capsa(tmp)


@pytest.fixture(scope="module", params=KINDS)
def registry(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Server]:
    """A registry with no auth, shared by the tests of one module."""
    server = start(request.param, tmp_path_factory.mktemp(request.param))
    try:
        yield server
    finally:
        server.stop()
