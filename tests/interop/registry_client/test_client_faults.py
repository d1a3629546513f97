"""Faults between capsa and a registry: a connection cut mid-layer (resumed with Range),
a corrupted blob (refused, nothing stored), a manifest too large, a registry that is
down, an unknown image, a registry killed during a push. Each is one clear line, and the
store holds no image and no blob of a failed pull."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from docker_registry import Registry, free_port
from faultproxy import FaultProxy

from capsa.store.store import Store
from conftest import Capsa, needs_registry

pytestmark = needs_registry


@pytest.fixture
def pushed(capsa: Capsa, registry: Registry) -> str:
    capsa.run("push", "-q", "localhost/busybox:latest", f"{registry.host}/faults/busybox:v1")
    return "faults/busybox:v1"


@pytest.fixture
def proxy_factory(registry: Registry) -> Iterator[type[FaultProxy]]:
    made: list[FaultProxy] = []

    class Made(FaultProxy):
        def __init__(self, **kwargs: bool) -> None:
            super().__init__(registry.port, **kwargs)
            made.append(self)

    yield Made
    for proxy in made:
        proxy.close()


def _store_contents(root: Path) -> tuple[int, list[str]]:
    with Store(root / "storage") as store:
        return len(store.metadata.images()), [str(b.digest) for b in store.content.list()]


def test_a_cut_connection_is_resumed(capsa: Capsa, pushed: str, proxy_factory: type) -> None:
    proxy = proxy_factory(cut=True)
    fresh = capsa.home / "fresh"
    result = capsa.run("pull", "-q", f"{proxy.host}/{pushed}", root=fresh)
    assert result.returncode == 0
    assert proxy.cut_done, "the proxy cut no blob"
    assert proxy.seen["GET range blob"] >= len(proxy.cut_done)  # resumed with Range
    images, _ = _store_contents(fresh)
    assert images == 1


def test_a_corrupted_blob_is_refused(capsa: Capsa, pushed: str, proxy_factory: type) -> None:
    proxy = proxy_factory(flip=True)
    fresh = capsa.home / "fresh"
    result = capsa.run("pull", f"{proxy.host}/{pushed}", root=fresh, check=False)
    assert result.returncode == 125
    [line] = result.stderr.strip().splitlines()
    assert "does not match its digest" in line and "nothing was stored" in line
    assert "image.layer" in line  # the layer, not the config
    images, blobs = _store_contents(fresh)
    assert images == 0
    with Store(capsa.root / "storage") as store:
        record = store.metadata.resolve_image("localhost/busybox:latest")
        layers = [d for d, kind in store.metadata.image_blobs(record.id).items() if kind == "layer"]
    assert not set(layers) & set(blobs)  # no corrupt layer was kept


def test_a_manifest_too_large(capsa: Capsa, pushed: str, proxy_factory: type) -> None:
    proxy = proxy_factory(huge_manifest=True)
    result = capsa.run("pull", f"{proxy.host}/{pushed}", root=capsa.home / "x", check=False)
    assert result.returncode == 125
    assert "more than the 4194304" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_registry_down_and_unknown_image(capsa: Capsa, registry: Registry) -> None:
    down = f"127.0.0.1:{free_port()}"
    result = capsa.run("pull", f"{down}/app:v1", check=False)
    assert result.returncode == 125
    [line] = result.stderr.strip().splitlines()
    assert f"cannot reach registry {down}" in line and "connection refused" in line
    unknown = capsa.run("pull", f"{registry.host}/no/such:v1", check=False)
    assert unknown.returncode == 125
    assert "manifest for" in unknown.stderr and "not found" in unknown.stderr


def test_registry_killed_during_a_push(capsa: Capsa, registry: Registry) -> None:
    registry.stop()
    result = capsa.run("push", "localhost/busybox:latest", f"{registry.host}/gone:v1", check=False)
    assert result.returncode == 125
    assert "cannot reach registry" in result.stderr
    assert json.loads(capsa.run("images", "--format", "json").stdout.splitlines()[0])
