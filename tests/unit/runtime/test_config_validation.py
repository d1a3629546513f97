from __future__ import annotations

import copy
from typing import Any

import pytest

from capsa.errors import InvalidArgument
from capsa.oci.runtime_config import validate_container_id, validate_runtime_config
from capsa.runtime.default_spec import default_spec


def spec() -> dict[str, Any]:
    return copy.deepcopy(default_spec())


def test_default_specs_are_valid() -> None:
    validate_runtime_config(default_spec())
    validate_runtime_config(default_spec(rootless=True))


@pytest.mark.parametrize(
    ("mutate", "field"),
    [
        (lambda s: s.pop("root"), "root"),
        (lambda s: s["root"].update(path=""), "root.path"),
        (lambda s: s["process"].update(args=[]), "process.args"),
        (lambda s: s["process"].update(args="sh"), "process.args"),
        (lambda s: s["process"].update(cwd="relative"), "process.cwd"),
        (lambda s: s["process"].update(env=["NOEQUALS"]), "process.env[0]"),
        (
            lambda s: s["process"]["capabilities"].update(bounding=["CAP_BOGUS"]),
            "process.capabilities.bounding[0]",
        ),
        (lambda s: s["process"]["capabilities"].update(weird=[]), "process.capabilities.weird"),
        (
            lambda s: s["process"].update(rlimits=[{"type": "RLIMIT_FOO", "soft": 1, "hard": 1}]),
            "process.rlimits[0].type",
        ),
        (
            lambda s: s["process"].update(
                rlimits=[{"type": "RLIMIT_NOFILE", "soft": 2, "hard": 1}]
            ),
            "process.rlimits[0]",
        ),
        (
            lambda s: s["process"].update(
                rlimits=[
                    {"type": "RLIMIT_NOFILE", "soft": 1, "hard": 1},
                    {"type": "RLIMIT_NOFILE", "soft": 1, "hard": 1},
                ]
            ),
            "process.rlimits[1].type",
        ),
        (lambda s: s["process"].update(oomScoreAdj=5000), "process.oomScoreAdj"),
        (lambda s: s["process"]["user"].update(uid=-1), "process.user.uid"),
        (lambda s: s["process"]["user"].update(uid="0"), "process.user.uid"),
        (lambda s: s["linux"]["namespaces"].append({"type": "pid"}), "linux.namespaces[6].type"),
        (lambda s: s["linux"]["namespaces"].append({"type": "bogus"}), "linux.namespaces[6].type"),
        (
            lambda s: s["linux"]["namespaces"].append({"type": "user", "path": "rel"}),
            "linux.namespaces[6].path",
        ),
        (
            lambda s: s["linux"].update(uidMappings=[{"containerID": 0, "hostID": 0, "size": 1}]),
            "linux.uidMappings",
        ),
        (lambda s: s.update(hooks={"prestart": [{"path": "relative"}]}), "hooks.prestart[0].path"),
        (
            lambda s: s.update(hooks={"poststart": [{"path": "/bin/true", "timeout": 0}]}),
            "hooks.poststart[0].timeout",
        ),
        (lambda s: s.update(hooks={"sometime": []}), "hooks.sometime"),
        (
            lambda s: s["linux"].update(personality={"domain": "WINDOWS"}),
            "linux.personality.domain",
        ),
        (
            lambda s: s["linux"].update(sysctl={"net.ipv4.ip_forward": 1}),
            "linux.sysctl.net.ipv4.ip_forward",
        ),
        (lambda s: s.update(annotations={"a": 1}), "annotations.a"),
        (
            lambda s: s["process"].update(ioPriority={"class": "IOPRIO_CLASS_X", "priority": 1}),
            "process.ioPriority.class",
        ),
        (
            lambda s: s["process"].update(scheduler={"policy": "SCHED_FAST"}),
            "process.scheduler.policy",
        ),
        (lambda s: s["mounts"].append({"type": "tmpfs"}), "mounts[7].destination"),
    ],
)
def test_bad_fields_are_named(mutate: Any, field: str) -> None:
    config = spec()
    mutate(config)
    with pytest.raises(InvalidArgument) as caught:
        validate_runtime_config(config)
    assert f"invalid {field}:" in str(caught.value)


@pytest.mark.parametrize("good", ["a", "abc-DEF_1.2+3", "0" * 64])
def test_good_container_ids(good: str) -> None:
    validate_container_id(good)


@pytest.mark.parametrize("bad", ["", "../x", "a/b", "-lead", ".hidden", "sp ace", "x" * 1025])
def test_bad_container_ids(bad: str) -> None:
    with pytest.raises(InvalidArgument):
        validate_container_id(bad)
