from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from cgroups_fakehost import FakeHost


@pytest.fixture
def make_host(tmp_path: Path) -> Iterator[Callable[[str], FakeHost]]:
    made: list[FakeHost] = []

    def make(mode: str) -> FakeHost:
        host = FakeHost(tmp_path / f"cgroup-{mode}-{len(made)}", mode)
        made.append(host)
        return host

    yield make
    for host in made:
        host.cleanup()


@pytest.fixture
def hybrid(make_host: Callable[[str], FakeHost]) -> FakeHost:
    return make_host("hybrid")


@pytest.fixture
def v1(make_host: Callable[[str], FakeHost]) -> FakeHost:
    return make_host("v1")


@pytest.fixture
def v2(make_host: Callable[[str], FakeHost]) -> FakeHost:
    return make_host("v2")
