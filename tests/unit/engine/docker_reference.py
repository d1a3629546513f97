"""Docker's own resolution of its seccomp profile, written out plainly for the tests.

A direct statement of moby's setupSeccomp (profiles/seccomp/seccomp_linux.go) over the
profile file in shared/specs/seccomp/, to check capsa's profile and resolver against:
the archMap entry of the native architecture; per rule, excludes (architecture, any
capability of the bounding set, minKernel reached) drop it, includes (architecture,
every capability, minKernel reached) keep it.
"""

from __future__ import annotations

import json
from collections.abc import Collection
from pathlib import Path
from typing import Any

import pytest

# GOARCH -> (Docker's native name, the SCMP name its archMap is searched for)
GOARCHES: dict[str, tuple[str, str]] = {
    "amd64": ("amd64", "SCMP_ARCH_X86_64"),
    "386": ("x86", "SCMP_ARCH_X86"),
    "arm64": ("arm64", "SCMP_ARCH_AARCH64"),
    "arm": ("arm", "SCMP_ARCH_ARM"),
    "ppc64le": ("ppc64le", "SCMP_ARCH_PPC64LE"),
    "s390x": ("s390x", "SCMP_ARCH_S390X"),
    "s390": ("s390", "SCMP_ARCH_S390"),
    "riscv64": ("riscv64", "SCMP_ARCH_RISCV64"),
    "mips64": ("mips64", "SCMP_ARCH_MIPS64"),
    "mips64le": ("mipsel64", "SCMP_ARCH_MIPSEL64"),
    "loong64": ("loongarch64", "SCMP_ARCH_LOONGARCH64"),
}

_CANDIDATES = (
    Path(__file__).resolve().parents[4] / "shared" / "specs" / "seccomp" / "docker-default.json",
    Path("/work/shared/specs/seccomp/docker-default.json"),
)


def docker_profile_path() -> Path:
    for path in _CANDIDATES:
        if path.exists():
            return path
    pytest.skip(
        "Docker's profile facts (shared/specs/seccomp/docker-default.json) are not beside "
        "this checkout, so there is nothing to compare capsa's profile with"
    )


def docker_profile() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(docker_profile_path().read_text())
    return data


def _version(text: str) -> tuple[int, ...]:
    return tuple(int(part) for part in text.split(".")[:2])


def docker_resolve(
    profile: dict[str, Any], goarch: str, caps: Collection[str], kernel: str = "6.1"
) -> dict[str, Any]:
    native, scmp = GOARCHES[goarch]
    running = _version(kernel)
    architectures: list[str] = []
    for entry in profile["archMap"]:
        if entry["architecture"] == scmp:
            architectures = [scmp, *(entry["subArchitectures"] or [])]
            break
    syscalls = []
    for rule in profile["syscalls"]:
        excludes = rule.get("excludes") or {}
        includes = rule.get("includes") or {}
        if native in (excludes.get("arches") or []):
            continue
        if any(cap in caps for cap in excludes.get("caps") or []):
            continue
        if "minKernel" in excludes and running >= _version(excludes["minKernel"]):
            continue
        if includes.get("arches") and native not in includes["arches"]:
            continue
        if not all(cap in caps for cap in includes.get("caps") or []):
            continue
        if "minKernel" in includes and running < _version(includes["minKernel"]):
            continue
        syscalls.append({k: rule[k] for k in ("names", "action", "errnoRet", "args") if k in rule})
    return {
        "defaultAction": profile["defaultAction"],
        "defaultErrnoRet": profile["defaultErrnoRet"],
        "architectures": architectures,
        "syscalls": syscalls,
    }


Decision = tuple[str, int | None, tuple[tuple[int, int, int, str], ...]]


def decisions(seccomp: dict[str, Any]) -> dict[str, list[Decision]]:
    """Per syscall name, its rules as (action, errnoRet, argument conditions), sorted."""
    found: dict[str, list[Decision]] = {}
    for rule in seccomp["syscalls"]:
        args = tuple(
            (a["index"], a["value"], a.get("valueTwo", 0), a["op"]) for a in rule.get("args") or []
        )
        for name in rule["names"]:
            found.setdefault(name, []).append((rule["action"], rule.get("errnoRet"), args))
    return {name: sorted(rules, key=repr) for name, rules in found.items()}
