"""--cap-add, --cap-drop and --privileged resolved with Docker's rules."""

from __future__ import annotations

import pytest

from capsa.engine.capabilities import (
    DEFAULT_CAPABILITIES,
    all_capabilities,
    resolve_capabilities,
)
from capsa.errors import InvalidArgument
from capsa.oci.capabilities import CAPABILITIES

LAST = 40  # CAP_CHECKPOINT_RESTORE, Linux 5.9
EVERY = (1 << 64) - 1


def bounding(add: list[str], drop: list[str], privileged: bool = False) -> list[str]:
    result = resolve_capabilities(add, drop, privileged, last_cap=LAST, bounding=EVERY)
    assert result["effective"] == result["permitted"] == result["bounding"]
    assert result["inheritable"] == result["ambient"] == []
    return result["bounding"]


def test_dockers_default_set() -> None:
    assert bounding([], []) == list(DEFAULT_CAPABILITIES)
    assert len(DEFAULT_CAPABILITIES) == 14
    assert "CAP_SYS_ADMIN" not in DEFAULT_CAPABILITIES
    assert "CAP_NET_RAW" in DEFAULT_CAPABILITIES


def test_names_in_any_case_with_or_without_the_prefix() -> None:
    for spelling in ("SYS_ADMIN", "sys_admin", "CAP_SYS_ADMIN", "cap_sys_admin", "Sys_Admin"):
        assert bounding([spelling], []) == [*DEFAULT_CAPABILITIES, "CAP_SYS_ADMIN"]
    assert "CAP_CHOWN" not in bounding([], ["chown"])


def test_add_and_drop() -> None:
    caps = bounding(["NET_ADMIN", "SYS_PTRACE"], ["NET_RAW", "MKNOD"])
    assert caps[-2:] == ["CAP_NET_ADMIN", "CAP_SYS_PTRACE"]
    assert "CAP_NET_RAW" not in caps and "CAP_MKNOD" not in caps
    assert len(caps) == 14
    assert bounding(["CHOWN"], []) == list(DEFAULT_CAPABILITIES)  # no duplicate


def test_all_in_add_then_drops_apply() -> None:
    caps = bounding(["ALL"], ["MKNOD", "sys_module"])
    assert len(caps) == LAST + 1 - 2
    assert "CAP_MKNOD" not in caps and "CAP_SYS_MODULE" not in caps and "CAP_BPF" in caps


def test_all_in_drop_keeps_only_the_added() -> None:
    assert bounding(["NET_BIND_SERVICE", "chown"], ["all"]) == [
        "CAP_NET_BIND_SERVICE",
        "CAP_CHOWN",
    ]
    assert bounding([], ["ALL"]) == []


def test_added_and_dropped_is_kept_as_docker_keeps_it() -> None:
    # moby drops from the defaults first and adds afterwards.
    assert "CAP_NET_ADMIN" in bounding(["NET_ADMIN"], ["NET_ADMIN"])
    assert "CAP_CHOWN" in bounding(["CHOWN"], ["CHOWN"])
    # With ALL added, the drop list is applied to it.
    assert "CAP_NET_ADMIN" not in bounding(["ALL"], ["NET_ADMIN"])


def test_privileged_gets_every_capability_the_kernel_knows() -> None:
    assert bounding([], [], privileged=True) == all_capabilities(LAST, EVERY)
    assert len(bounding([], [], privileged=True)) == 41
    assert bounding([], ["ALL"], privileged=True) == all_capabilities(LAST, EVERY)
    assert len(resolve_capabilities([], [], True, last_cap=37, bounding=EVERY)["bounding"]) == 38
    # This kernel's own count, less what this process cannot grant.
    with open("/proc/sys/kernel/cap_last_cap") as f:
        last = int(f.read())
    with open("/proc/self/status") as f:
        mask = int(next(line for line in f if line.startswith("CapBnd:")).split()[1], 16)
    expected = [n for n, number in CAPABILITIES.items() if number <= last and mask >> number & 1]
    assert sorted(resolve_capabilities([], [], True)["bounding"]) == sorted(expected)


def test_privileged_and_all_leave_out_what_capsa_itself_lacks() -> None:
    without_resource = EVERY & ~(1 << CAPABILITIES["CAP_SYS_RESOURCE"])
    limited = {"last_cap": LAST, "bounding": without_resource}
    caps = resolve_capabilities([], [], True, **limited)
    assert "CAP_SYS_RESOURCE" not in caps["bounding"] and len(caps["bounding"]) == 40
    caps = resolve_capabilities(["ALL"], [], False, **limited)
    assert "CAP_SYS_RESOURCE" not in caps["bounding"]
    with pytest.raises(InvalidArgument, match="CAP_SYS_RESOURCE in --cap-add is not supported"):
        resolve_capabilities(["SYS_RESOURCE"], [], False, **limited)
    # Dropping it is fine.
    caps = resolve_capabilities([], ["SYS_RESOURCE"], False, **limited)
    assert caps["bounding"] == list(DEFAULT_CAPABILITIES)


def test_unknown_names_are_refused_by_name() -> None:
    with pytest.raises(InvalidArgument, match=r"^unknown capability 'NET_ADMN' in --cap-add;"):
        resolve_capabilities(["NET_ADMN"], [], False)
    with pytest.raises(InvalidArgument, match=r"unknown capability 'cap_foo' in --cap-drop"):
        resolve_capabilities([], ["cap_foo"], False)
    with pytest.raises(InvalidArgument, match="unknown capability"):
        resolve_capabilities(["bogus"], [], True)


def test_capabilities_this_kernel_lacks_are_refused() -> None:
    with pytest.raises(
        InvalidArgument,
        match=r"capability CAP_BPF in --cap-add is not supported by this kernel or not "
        r"available here; capsa can grant CHOWN, DAC_OVERRIDE, .*, AUDIT_READ$",
    ):
        resolve_capabilities(["BPF"], [], False, last_cap=37, bounding=EVERY)
    everything = resolve_capabilities(["ALL"], [], False, last_cap=37, bounding=EVERY)
    assert "CAP_BPF" not in everything["bounding"]
