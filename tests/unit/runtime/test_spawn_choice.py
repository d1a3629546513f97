"""When the runtime clones the container's init straight away, and when it needs the
intermediate (capsa.runtime.process.spawn.direct_flags)."""

from __future__ import annotations

from typing import Any

import pytest

from capsa.kernel import namespaces as kns
from capsa.runtime import namespaces
from capsa.runtime.process import spawn


def _plan(linux: dict[str, Any]) -> namespaces.NamespacePlan:
    return namespaces.plan(linux)


def _linux(*kinds: str, **paths: str) -> dict[str, Any]:
    found = [{"type": kind} for kind in kinds]
    found += [{"type": kind, "path": path} for kind, path in paths.items()]
    return {"namespaces": found}


@pytest.fixture
def subreaper(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(spawn.kproc, "is_child_subreaper", lambda: True)


@pytest.mark.usefixtures("subreaper")
def test_the_usual_namespaces_are_cloned_but_the_cgroup_one() -> None:
    flags = spawn.direct_flags(_plan(_linux("pid", "network", "ipc", "uts", "mount", "cgroup")))
    assert flags == kns.CLONE_NEWPID | kns.CLONE_NEWNET | kns.CLONE_NEWIPC | (
        kns.CLONE_NEWUTS | kns.CLONE_NEWNS
    )


@pytest.mark.usefixtures("subreaper")
@pytest.mark.parametrize(
    "linux",
    [
        _linux("pid", "mount", "user"),  # id maps are written between the steps
        _linux("mount", network="/proc/self/ns/net"),  # joined by path
        _linux("mount", "time"),  # offsets are written before the init is in it
    ],
    ids=["user", "joined", "time"],
)
def test_these_need_the_intermediate(linux: dict[str, Any]) -> None:
    if "time" in str(linux) and not kns.namespace_available("time"):
        pytest.skip("no time namespaces on this kernel")
    assert spawn.direct_flags(_plan(linux)) is None


def test_not_without_being_a_subreaper(monkeypatch: pytest.MonkeyPatch) -> None:
    # The init would become the caller's child, which it was not before.
    monkeypatch.setattr(spawn.kproc, "is_child_subreaper", lambda: False)
    assert spawn.direct_flags(_plan(_linux("pid", "mount"))) is None
