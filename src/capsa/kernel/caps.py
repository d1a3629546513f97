"""Linux capabilities: names, capset(2), the bounding set and the ambient set."""

from __future__ import annotations

from capsa import ffi
from capsa._record import Record
from capsa.kernel._libc import c_capget, c_capset, c_prctl, check
from capsa.oci.capabilities import CAPABILITIES

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterable

CAPABILITY_NAMES = {number: name for name, number in CAPABILITIES.items()}

PR_CAPBSET_READ = 23
PR_CAPBSET_DROP = 24
PR_CAP_AMBIENT = 47
PR_CAP_AMBIENT_RAISE = 2
PR_CAP_AMBIENT_CLEAR_ALL = 4

_LINUX_CAPABILITY_VERSION_3 = 0x20080522


class _Header(ffi.Structure):
    _fields_ = [("version", ffi.c_uint32), ("pid", ffi.c_int)]


class _Data(ffi.Structure):
    _fields_ = [
        ("effective", ffi.c_uint32),
        ("permitted", ffi.c_uint32),
        ("inheritable", ffi.c_uint32),
    ]


def last_cap() -> int:
    """The highest capability number this kernel knows."""
    try:
        with open("/proc/sys/kernel/cap_last_cap") as f:
            return int(f.read())
    except OSError:
        return max(CAPABILITIES.values())


def cap_number(name: str) -> int:
    """Number of a capability named as OCI does (`CAP_SYS_ADMIN`); KeyError if unknown."""
    return CAPABILITIES[name.upper()]


def mask_of(names: Iterable[str]) -> int:
    mask = 0
    for name in names:
        mask |= 1 << cap_number(name)
    return mask


class CapSets(Record):
    """The three capability sets of capget(2)/capset(2), as 64-bit masks; immutable."""

    __slots__ = ("effective", "inheritable", "permitted")

    def __init__(self, effective: int, permitted: int, inheritable: int) -> None:
        self.effective = effective
        self.permitted = permitted
        self.inheritable = inheritable


def capget(pid: int = 0) -> CapSets:
    header = _Header(_LINUX_CAPABILITY_VERSION_3, pid)
    data = (_Data * 2)()
    check(c_capget(ffi.byref(header), ffi.byref(data)), "capget")
    return CapSets(
        effective=data[0].effective | (data[1].effective << 32),
        permitted=data[0].permitted | (data[1].permitted << 32),
        inheritable=data[0].inheritable | (data[1].inheritable << 32),
    )


def capset(sets: CapSets) -> None:
    header = _Header(_LINUX_CAPABILITY_VERSION_3, 0)
    data = (_Data * 2)()
    for index, shift in ((0, 0), (1, 32)):
        data[index].effective = (sets.effective >> shift) & 0xFFFFFFFF
        data[index].permitted = (sets.permitted >> shift) & 0xFFFFFFFF
        data[index].inheritable = (sets.inheritable >> shift) & 0xFFFFFFFF
    check(c_capset(ffi.byref(header), ffi.byref(data)), "capset")


def drop_bounding(keep_mask: int) -> None:
    """Drop every capability not in keep_mask from the bounding set (needs CAP_SETPCAP)."""
    for number in range(last_cap() + 1):
        if keep_mask & (1 << number):
            continue
        if c_prctl(PR_CAPBSET_READ, number, 0, 0, 0) == 1:
            check(c_prctl(PR_CAPBSET_DROP, number, 0, 0, 0), "prctl(PR_CAPBSET_DROP)")


def set_ambient(mask: int) -> None:
    check(c_prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0), "prctl(PR_CAP_AMBIENT)")
    for number in range(last_cap() + 1):
        if mask & (1 << number):
            check(
                c_prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, number, 0, 0),
                f"prctl(PR_CAP_AMBIENT_RAISE, {CAPABILITY_NAMES.get(number, number)})",
            )
