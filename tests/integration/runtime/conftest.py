"""Fixtures for the runtime's integration tests."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from runtime_harness import CAPSA_RUNTIME, BundleFactory, Runtime

from capsa.runtime.busybox_bundle import make_rootfs
from capsa.runtime.default_spec import default_spec


@pytest.fixture
def runtime(tmp_path: Path) -> Iterator[Runtime]:
    rt = Runtime(CAPSA_RUNTIME, tmp_path / "state")
    yield rt
    rt.cleanup()


@pytest.fixture(scope="session")
def shared_rootfs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("busybox") / "rootfs"
    make_rootfs(str(root))
    return root


@pytest.fixture
def make_bundle(tmp_path: Path, shared_rootfs: Path) -> BundleFactory:
    """make_bundle(args, edit=fn(spec)) -> bundle dir sharing one read-only busybox rootfs."""
    counter = iter(range(1000))

    def factory(
        args: list[str],
        edit: Callable[[dict[str, Any]], None] | None = None,
        *,
        rootfs: Path | None = None,
    ) -> Path:
        bundle = tmp_path / f"bundle{next(counter)}"
        bundle.mkdir()
        spec = default_spec(args=args, terminal=False)
        spec["root"] = {"path": str(rootfs or shared_rootfs), "readonly": True}
        if edit:
            edit(spec)
        (bundle / "config.json").write_text(json.dumps(spec, indent=2))
        return bundle

    return factory
