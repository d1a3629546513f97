"""Fixtures of the registry interop tests: Debian's docker-registry on 127.0.0.1, a capsa
command line with its own store, configuration and credential files, and an image."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

import docker_registry

CAPSA = str(Path(sys.executable).with_name("capsa"))

needs_registry = pytest.mark.skipif(
    docker_registry.DOCKER_REGISTRY is None,
    reason="docker-registry is not installed (scripts/setup.sh installs it)",
)


@dataclass
class Capsa:
    """`capsa` as a user runs it, with everything under one temporary directory."""

    home: Path
    env: dict[str, str]

    @property
    def root(self) -> Path:
        return self.home / "root"

    @property
    def config_dir(self) -> Path:
        return self.home / "capsa-config"

    @property
    def auth_file(self) -> Path:
        return self.home / "docker" / "config.json"

    def run(
        self, *args: str, root: Path | None = None, input: str | None = None, check: bool = True
    ) -> subprocess.CompletedProcess[str]:
        argv = [CAPSA, "--root", str(root or self.root), *args]
        result = subprocess.run(
            argv,
            capture_output=True,
            text=True,
            env=self.env,
            input=input,
            timeout=180,
            check=False,
        )
        if check:
            assert result.returncode == 0, f"capsa {' '.join(args)}: {result.stderr}"
        return result


@pytest.fixture
def capsa(tmp_path: Path) -> Capsa:
    home = tmp_path / "home"
    home.mkdir()
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in ("REGISTRY_AUTH_FILE", "CONTAINERS_REGISTRIES_CONF", "DOCKER_CONFIG")
    }
    env.update(
        HOME=str(home),
        CAPSA_CONFIG_DIR=str(home / "capsa-config"),
        DOCKER_CONFIG=str(home / "docker"),
        XDG_RUNTIME_DIR=str(home / "run"),
        XDG_CONFIG_HOME=str(home / ".config"),
        CONTAINERS_REGISTRIES_CONF=str(home / "registries.conf"),
    )
    tool = Capsa(home, env)
    tool.run("image", "default", "-q")
    return tool


@pytest.fixture
def registry(tmp_path: Path) -> Iterator[docker_registry.Registry]:
    if docker_registry.DOCKER_REGISTRY is None:
        pytest.skip("docker-registry is not installed")
    reg = docker_registry.start(tmp_path / "registry")
    try:
        yield reg
    finally:
        reg.stop()
