"""Docker's default seccomp profile, resolved into the OCI `linux.seccomp` form.

/work/shared/specs/seccomp/docker-default.json (or ../shared beside the checkout) is
Docker's profile with its `archMap` and `includes`/`excludes`; Docker resolves those for the
host's architecture and the container's capabilities before it writes config.json. This does
the same for amd64 and Docker's default capability set.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

DOCKER_DEFAULT_CAPS = frozenset(
    {
        "CAP_CHOWN",
        "CAP_DAC_OVERRIDE",
        "CAP_FSETID",
        "CAP_FOWNER",
        "CAP_MKNOD",
        "CAP_NET_RAW",
        "CAP_SETGID",
        "CAP_SETUID",
        "CAP_SETFCAP",
        "CAP_SETPCAP",
        "CAP_NET_BIND_SERVICE",
        "CAP_SYS_CHROOT",
        "CAP_KILL",
        "CAP_AUDIT_WRITE",
    }
)

_CANDIDATES = (
    Path(__file__).resolve().parents[4] / "shared" / "specs" / "seccomp" / "docker-default.json",
    Path("/work/shared/specs/seccomp/docker-default.json"),
)


def docker_default_json() -> dict[str, Any]:
    for path in _CANDIDATES:
        if path.exists():
            data: dict[str, Any] = json.loads(path.read_text())
            return data
    pytest.skip("shared/specs/seccomp/docker-default.json is not beside the checkout")


def docker_default_oci(
    goarch: str = "amd64", caps: frozenset[str] = DOCKER_DEFAULT_CAPS
) -> dict[str, Any]:
    profile = docker_default_json()
    native = {"amd64": "SCMP_ARCH_X86_64", "arm64": "SCMP_ARCH_AARCH64"}[goarch]
    architectures: list[str] = []
    for entry in profile["archMap"]:
        if entry["architecture"] == native:
            architectures = [native, *(entry["subArchitectures"] or [])]
    syscalls = []
    for rule in profile["syscalls"]:
        includes = rule.get("includes") or {}
        excludes = rule.get("excludes") or {}
        if includes.get("arches") and goarch not in includes["arches"]:
            continue
        if includes.get("caps") and not set(includes["caps"]) <= caps:
            continue
        if excludes.get("arches") and goarch in excludes["arches"]:
            continue
        if excludes.get("caps") and set(excludes["caps"]) & caps:
            continue
        oci = {key: rule[key] for key in ("names", "action", "errnoRet", "args") if key in rule}
        syscalls.append(oci)
    return {
        "defaultAction": profile["defaultAction"],
        "defaultErrnoRet": profile["defaultErrnoRet"],
        "architectures": architectures,
        "syscalls": syscalls,
    }
