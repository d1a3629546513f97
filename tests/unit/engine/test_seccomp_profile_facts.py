"""Every fact of Docker's default seccomp profile holds for capsa's: for each architecture,
capability set and kernel, the same syscalls are allowed under the same argument
conditions, and the same are refused with the same errno."""

from __future__ import annotations

import itertools

import pytest
from docker_reference import GOARCHES, decisions, docker_profile, docker_resolve

from capsa.engine.capabilities import DEFAULT_CAPABILITIES, all_capabilities
from capsa.engine.seccomp_profile import ENOSYS, NEWER_THAN_PROFILE, default_profile

DEFAULT = frozenset(DEFAULT_CAPABILITIES)


def capability_sets() -> dict[str, frozenset[str]]:
    """No capability, Docker's defaults, the defaults plus each capability a rule of
    Docker's profile names, and every capability."""
    named = sorted(
        {
            cap
            for rule in docker_profile()["syscalls"]
            for key in ("includes", "excludes")
            for cap in (rule.get(key) or {}).get("caps") or []
        }
    )
    sets = {"none": frozenset(), "default": DEFAULT}
    sets.update({f"default+{cap}": DEFAULT | {cap} for cap in named})
    sets["all"] = frozenset(all_capabilities(last_cap=40, bounding=(1 << 64) - 1))
    return sets


@pytest.mark.parametrize("goarch", sorted(GOARCHES))
@pytest.mark.parametrize("kernel", ["4.4.0", "4.8.0", "6.1.0-28-amd64"])
def test_same_decisions_as_docker(goarch: str, kernel: str) -> None:
    facts = docker_profile()
    for label, caps in capability_sets().items():
        theirs = docker_resolve(facts, goarch, caps, kernel)
        ours = default_profile(caps, goarch, kernel=kernel)
        where = f"{goarch}, kernel {kernel}, capabilities {label}"
        assert ours["defaultAction"] == theirs["defaultAction"], where
        assert ours["defaultErrnoRet"] == theirs["defaultErrnoRet"], where
        assert ours["architectures"] == theirs["architectures"], where
        mine = decisions(ours)
        for name in NEWER_THAN_PROFILE.names:
            assert mine.pop(name) == [("SCMP_ACT_ERRNO", ENOSYS, ())], (where, name)
        expected = decisions(theirs)
        assert sorted(mine) == sorted(expected), (
            where,
            sorted(set(mine) - set(expected)),
            sorted(set(expected) - set(mine)),
        )
        for name in expected:
            assert mine[name] == expected[name], (where, name)


def test_the_calls_we_answer_enosys_are_unknown_to_dockers_profile() -> None:
    # If Docker's profile ever decides on one of them, ours must decide the same way.
    named = {name for rule in docker_profile()["syscalls"] for name in rule["names"]}
    assert not named & set(NEWER_THAN_PROFILE.names)


def test_every_variant_of_dockers_profile_was_compared() -> None:
    """The capability sets above reach every rule of Docker's profile, and its absence."""
    facts = docker_profile()
    reached: set[int] = set()
    missed: set[int] = set()
    for goarch, caps, kernel in itertools.product(
        GOARCHES, capability_sets().values(), ("4.4", "6.1")
    ):
        kept = docker_resolve(facts, goarch, caps, kernel)["syscalls"]
        for index, rule in enumerate(facts["syscalls"]):
            stripped = {k: rule[k] for k in ("names", "action", "errnoRet", "args") if k in rule}
            (reached if stripped in kept else missed).add(index)
    assert reached == set(range(len(facts["syscalls"])))
    conditional = {
        i for i, rule in enumerate(facts["syscalls"]) if "includes" in rule or "excludes" in rule
    }
    assert conditional <= missed
