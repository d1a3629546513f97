"""--security-opt values as Docker and Podman accept them, and what they turn into."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from capsa.engine.security_opts import (
    SecurityOptions,
    parse_security_opts,
    seccomp_for,
    system_paths,
)
from capsa.errors import InvalidArgument

MASKED = ["/proc/acpi", "/proc/kcore", "/proc/keys", "/sys/firmware"]
READONLY = ["/proc/bus", "/proc/fs", "/proc/sys"]


def test_nothing_means_the_defaults() -> None:
    assert parse_security_opts([]) == SecurityOptions()


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("no-new-privileges", True),
        ("no-new-privileges=true", True),
        ("no-new-privileges=1", True),
        ("no-new-privileges=false", False),
        ("no-new-privileges:true", True),
        ("no-new-privileges=False", False),
    ],
)
def test_no_new_privileges(value: str, expected: bool) -> None:
    assert parse_security_opts([value]).no_new_privileges is expected


def test_seccomp_values() -> None:
    assert parse_security_opts(["seccomp=unconfined"]).seccomp == "unconfined"
    assert parse_security_opts(["seccomp=/etc/p.json"]).seccomp == "/etc/p.json"
    assert parse_security_opts(["seccomp:/etc/p.json"]).seccomp == "/etc/p.json"
    assert parse_security_opts(["seccomp=builtin"]).seccomp == ""
    inline = '{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[]}'
    assert parse_security_opts([f"seccomp={inline}"]).seccomp == inline
    # The last one given wins, as in Docker.
    assert parse_security_opts(["seccomp=/a.json", "seccomp=unconfined"]).seccomp == "unconfined"


def test_apparmor_labels_mask_unmask_and_the_rest() -> None:
    options = parse_security_opts(
        [
            "apparmor=unconfined",
            "label=disable",
            "label=type:spc_t",
            "label:level:s0:c1,c2",
            "mask=/proc/interrupts:/sys/kernel",
            "unmask=/proc/kcore:/proc/sys*",
            "proc-opts=hidepid=2,subset=pid",
            "writable-cgroups=true",
        ]
    )
    assert options.apparmor == "unconfined"
    assert options.labels == ("disable", "type:spc_t", "level:s0:c1,c2")
    assert options.mask == ("/proc/interrupts", "/sys/kernel")
    assert options.unmask == ("/proc/kcore", "/proc/sys*")
    assert options.proc_opts == ("hidepid=2", "subset=pid")
    assert options.writable_cgroups is True
    assert parse_security_opts(["disable"]).labels == ("disable",)
    assert parse_security_opts(["systempaths=unconfined"]).systempaths_unconfined


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("seccomp", r"invalid --security-opt 'seccomp': expected KEY=VALUE"),
        ("seccomp=", r"invalid --security-opt 'seccomp=': seccomp needs a value; give a profile"),
        ("no-new-privileges=maybe", r"'maybe' is not true or false"),
        ("apparmor=", r"apparmor needs a value"),
        ("label=color:red", r"bad label option 'color:red'"),
        ("label=type:", r"bad label option 'type:'"),
        ("mask=proc/kcore", r"'proc/kcore' is not an absolute path"),
        ("mask=/proc/*", r"mask takes paths, not patterns"),
        ("unmask=/a:", r"'' is not an absolute path"),
        ("systempaths=confined", r"systempaths takes only unconfined"),
        ("writable-cgroups=yes", r"'yes' is not true or false"),
        ("selinux=off", r"unknown option 'selinux'; use no-new-privileges"),
    ],
)
def test_bad_values_get_one_clear_line(value: str, message: str) -> None:
    with pytest.raises(InvalidArgument, match=message) as caught:
        parse_security_opts(["no-new-privileges", value])
    assert "\n" not in str(caught.value)


def test_system_paths() -> None:
    def paths(*opts: str, privileged: bool = False) -> tuple[list[str], list[str]]:
        return system_paths(parse_security_opts(opts), MASKED, READONLY, privileged)

    assert paths() == (MASKED, READONLY)
    assert paths(privileged=True) == ([], [])
    assert paths("systempaths=unconfined") == ([], [])
    assert paths("unmask=ALL") == ([], [])
    assert paths("unmask=/proc/kcore:/proc/sys") == (
        ["/proc/acpi", "/proc/keys", "/sys/firmware"],
        ["/proc/bus", "/proc/fs"],
    )
    assert paths("unmask=/proc/*") == (["/sys/firmware"], [])
    assert paths("mask=/proc/interrupts:/proc/keys") == ([*MASKED, "/proc/interrupts"], READONLY)
    assert paths("mask=/data/secret", privileged=True) == (["/data/secret"], [])


def test_seccomp_for_each_choice(tmp_path: Path) -> None:
    caps = ["CAP_CHOWN"]
    default = seccomp_for(SecurityOptions(), caps, False, "x86_64")
    assert default is not None and default["defaultErrnoRet"] == 1
    profile = tmp_path / "p.json"
    profile.write_text(json.dumps({"defaultAction": "SCMP_ACT_LOG", "syscalls": []}))
    from_file = seccomp_for(SecurityOptions(seccomp=str(profile)), caps, False, "x86_64")
    assert from_file == {"defaultAction": "SCMP_ACT_LOG", "syscalls": []}
    # A given profile does not apply to a privileged container (Docker's rule).
    assert seccomp_for(SecurityOptions(seccomp=str(profile)), caps, True) is None
    inline = parse_security_opts(['seccomp={"defaultAction": "SCMP_ACT_TRAP"}'])
    assert seccomp_for(inline, caps, False, "x86_64") == {
        "defaultAction": "SCMP_ACT_TRAP",
        "syscalls": [],
    }
    with pytest.raises(InvalidArgument, match="not valid JSON"):
        seccomp_for(SecurityOptions(seccomp="{nope"), caps, False)
    with pytest.raises(InvalidArgument, match=r"cannot read seccomp profile /nonexistent\.json"):
        seccomp_for(SecurityOptions(seccomp="/nonexistent.json"), caps, False)
