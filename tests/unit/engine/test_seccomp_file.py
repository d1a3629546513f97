"""`--security-opt seccomp=PATH`: OCI-form and Docker-form profiles resolved as Docker
resolves them, and a one-line error naming the file and field for a bad one."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from docker_reference import decisions, docker_profile, docker_profile_path, docker_resolve

from capsa.engine.capabilities import DEFAULT_CAPABILITIES
from capsa.engine.seccomp_file import load_profile_file, resolve_profile
from capsa.errors import InvalidArgument

DEFAULT = list(DEFAULT_CAPABILITIES)

DOCKER_FORM: dict[str, Any] = {
    "defaultAction": "SCMP_ACT_ERRNO",
    "defaultErrnoRet": 1,
    "archMap": [
        {"architecture": "SCMP_ARCH_X86_64", "subArchitectures": ["SCMP_ARCH_X86"]},
        {"architecture": "SCMP_ARCH_AARCH64", "subArchitectures": None},
    ],
    "syscalls": [
        {"names": ["read", "write"], "action": "SCMP_ACT_ALLOW", "comment": "always"},
        {"name": "getpid", "action": "SCMP_ACT_ALLOW"},
        {"names": ["mount"], "action": "SCMP_ACT_ALLOW", "includes": {"caps": ["CAP_SYS_ADMIN"]}},
        {
            "names": ["clone"],
            "action": "SCMP_ACT_ALLOW",
            "args": [{"index": 0, "value": 0x10000000, "valueTwo": 0, "op": "SCMP_CMP_MASKED_EQ"}],
            "excludes": {"caps": ["CAP_SYS_ADMIN"], "arches": ["s390x"]},
        },
        {"names": ["arch_prctl"], "action": "SCMP_ACT_ALLOW", "includes": {"arches": ["amd64"]}},
        {"names": ["ptrace"], "action": "SCMP_ACT_ALLOW", "includes": {"minKernel": "4.8"}},
        {"names": ["kcmp"], "action": "SCMP_ACT_ALLOW", "excludes": {"minKernel": "5.0"}},
        {"names": ["clone3"], "action": "SCMP_ACT_ERRNO", "errnoRet": 38},
    ],
}


def write(tmp_path: Path, document: Any, name: str = "profile.json") -> str:
    path = tmp_path / name
    path.write_text(document if isinstance(document, str) else json.dumps(document))
    return str(path)


def names(profile: dict[str, Any]) -> list[str]:
    return [name for rule in profile["syscalls"] for name in rule["names"]]


def test_docker_form_on_amd64_with_default_capabilities(tmp_path: Path) -> None:
    profile = load_profile_file(write(tmp_path, DOCKER_FORM), DEFAULT, "x86_64", kernel="6.1.0")
    assert profile["architectures"] == ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86"]
    assert profile["defaultErrnoRet"] == 1
    assert names(profile) == ["read", "write", "getpid", "clone", "arch_prctl", "ptrace", "clone3"]
    clone3 = {"names": ["clone3"], "action": "SCMP_ACT_ERRNO", "errnoRet": 38}
    assert profile["syscalls"][-1] == clone3
    assert "comment" not in profile["syscalls"][0]


def test_capabilities_architecture_and_kernel_select_rules(tmp_path: Path) -> None:
    path = write(tmp_path, DOCKER_FORM)
    admin = load_profile_file(path, [*DEFAULT, "CAP_SYS_ADMIN"], "amd64", kernel="6.1")
    assert "mount" in names(admin) and "clone" not in names(admin)
    arm = load_profile_file(path, DEFAULT, "aarch64", kernel="4.4")
    assert arm["architectures"] == ["SCMP_ARCH_AARCH64"]
    assert "arch_prctl" not in names(arm) and "ptrace" not in names(arm) and "kcmp" in names(arm)
    s390 = load_profile_file(path, DEFAULT, "s390x", kernel="6.1")
    assert "clone" not in names(s390)
    assert "architectures" not in s390  # no archMap entry, no list: native only


def test_oci_form_passes_through(tmp_path: Path) -> None:
    oci = {
        "defaultAction": "SCMP_ACT_KILL_PROCESS",
        "architectures": ["SCMP_ARCH_X86_64"],
        "flags": ["SECCOMP_FILTER_FLAG_LOG"],
        "syscalls": [
            {"names": ["read"], "action": "SCMP_ACT_ALLOW"},
            {
                "names": ["personality"],
                "action": "SCMP_ACT_ALLOW",
                "args": [{"index": 0, "value": 8, "op": "SCMP_CMP_EQ"}],
            },
        ],
    }
    assert load_profile_file(write(tmp_path, oci), DEFAULT, "x86_64") == oci


def test_dockers_own_profile_resolves_as_docker_resolves_it() -> None:
    path = str(docker_profile_path())
    facts = docker_profile()
    for goarch in ("amd64", "arm64", "s390x", "386"):
        for caps in (DEFAULT, [*DEFAULT, "CAP_SYS_ADMIN"], [*DEFAULT, "CAP_SYS_PTRACE"]):
            for kernel in ("4.4", "6.1"):
                ours = load_profile_file(path, caps, goarch, kernel=kernel)
                theirs = docker_resolve(facts, goarch, caps, kernel)
                assert ours.get("architectures", []) == theirs["architectures"]
                assert decisions(ours) == decisions(theirs), (goarch, caps, kernel)


@pytest.mark.parametrize(
    ("document", "message"),
    [
        ("{", r"is not valid JSON: .* at line 1 column 2"),
        ("[]", r"it must be a JSON object, not an array"),
        ({}, r"no defaultAction and no syscalls; to run without a filter say seccomp=unconfined"),
        (
            {"syscalls": [{"names": ["read"], "action": "SCMP_ACT_ALLOW"}]},
            r"defaultAction: is required",
        ),
        ({"defaultAction": "SCMP_ACT_FOO"}, r"defaultAction: unknown action 'SCMP_ACT_FOO'"),
        (
            {"defaultAction": "SCMP_ACT_ERRNO", "architectures": ["SCMP_ARCH_X86"],
             "archMap": [{"architecture": "SCMP_ARCH_X86_64"}]},
            r"archMap: give either architectures or archMap, not both",
        ),
        (
            {"defaultAction": "SCMP_ACT_ERRNO", "archMap": [{"subArchitectures": []}]},
            r"archMap\[0\]\.architecture: is required",
        ),
        (
            {"defaultAction": "SCMP_ACT_ERRNO", "archMap": [{"architecture": "X86"}]},
            r"archMap\[0\]\.architecture: unknown architecture 'X86'",
        ),
        (
            {"defaultAction": "SCMP_ACT_ERRNO",
             "syscalls": [{"names": ["read"], "action": "SCMP_ACT_ALLOW"},
                          {"names": ["write"], "action": "SCMP_ACT_ALOW"}]},
            r"syscalls\[1\]\.action: unknown action 'SCMP_ACT_ALOW'",
        ),
        (
            {"defaultAction": "SCMP_ACT_ERRNO",
             "syscalls": [{"name": "read", "names": ["write"], "action": "SCMP_ACT_ALLOW"}]},
            r"syscalls\[0\]\.name: give either name or names, not both",
        ),
        (
            {"defaultAction": "SCMP_ACT_ERRNO",
             "syscalls": [{"names": ["read"], "action": "SCMP_ACT_ALLOW",
                           "includes": {"minKernel": "four"}}]},
            r"syscalls\[0\]\.includes\.minKernel: 'four' is not a kernel version such as \"4.8\"",
        ),
        (
            {"defaultAction": "SCMP_ACT_ERRNO",
             "syscalls": [{"names": ["read"], "action": "SCMP_ACT_ALLOW",
                           "excludes": {"caps": "CAP_SYS_ADMIN"}}]},
            r"syscalls\[0\]\.excludes\.caps: must be an array of strings",
        ),
        (
            {"defaultAction": "SCMP_ACT_ERRNO",
             "syscalls": [{"names": ["read"], "action": "SCMP_ACT_ALLOW",
                           "args": [{"index": 7, "value": 1, "op": "SCMP_CMP_EQ"}]}]},
            r"syscalls\[0\]\.args\[0\]\.index: must be 0 to 5, not 7",
        ),
    ],
)  # fmt: skip
def test_bad_files_get_one_line_naming_file_and_field(
    tmp_path: Path, document: Any, message: str
) -> None:
    path = write(tmp_path, document)
    with pytest.raises(InvalidArgument) as caught:
        load_profile_file(path, DEFAULT, "x86_64", kernel="6.1")
    text = str(caught.value)
    assert "\n" not in text
    assert text.startswith(f"invalid seccomp profile {path}: ") or text.startswith(
        f"seccomp profile {path} is not valid JSON"
    ), text
    assert __import__("re").search(message, text), text


def test_a_missing_file_is_named(tmp_path: Path) -> None:
    path = str(tmp_path / "nope.json")
    with pytest.raises(InvalidArgument, match=f"cannot read seccomp profile {path}: No such file"):
        load_profile_file(path, DEFAULT)


def test_notify_is_accepted_for_runtimes_that_have_it(tmp_path: Path) -> None:
    document = {
        "defaultAction": "SCMP_ACT_ALLOW",
        "listenerPath": "/run/agent.sock",
        "syscalls": [{"names": ["mkdir"], "action": "SCMP_ACT_NOTIFY"}],
    }
    profile = load_profile_file(write(tmp_path, document), DEFAULT, "x86_64")
    assert profile["listenerPath"] == "/run/agent.sock"


def test_inline_profiles_as_the_docker_api_sends_them() -> None:
    profile = resolve_profile(DOCKER_FORM, DEFAULT, "x86_64", kernel="6.1", source="inline")
    assert "getpid" in names(profile)
    with pytest.raises(InvalidArgument, match=r"^invalid inline: it must be a JSON object"):
        resolve_profile([1], DEFAULT, source="inline")
