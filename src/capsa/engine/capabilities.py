"""A container's capabilities: Docker's default set, `--cap-add`, `--cap-drop` and
`--privileged`, resolved to the OCI `process.capabilities` object.

Docker's rules (moby's TweakCapabilities):
- names are case-insensitive, with or without `CAP_`; `ALL` means every capability;
- `--privileged` gives every capability this kernel knows and capsa itself holds (its
  bounding set: a capsa run inside a restricted container cannot grant what it lacks);
- `--cap-add ALL`: every capability but those dropped (drop applies after add);
- `--cap-drop ALL`: only those added;
- otherwise the defaults less those dropped, then those added: a name both added and
  dropped is kept, as Docker keeps it.
The bounding, effective and permitted sets get the result; the inheritable and ambient
sets stay empty, as Docker leaves them, so that exec'ing a program as another user or with
file capabilities gains nothing from them.
"""

from __future__ import annotations

from capsa.errors import InvalidArgument
from capsa.oci.capabilities import CAPABILITIES

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterable

ALL = "ALL"

# Docker's default set (moby oci/caps/defaults.go), in its order.
DEFAULT_CAPABILITIES: tuple[str, ...] = (
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
)


def resolve_capabilities(
    cap_add: Iterable[str],
    cap_drop: Iterable[str],
    privileged: bool,
    *,
    last_cap: int | None = None,
    bounding: int | None = None,
) -> dict[str, list[str]]:
    """The OCI `process.capabilities` object for these flags (see the module's docstring).

    `last_cap` is the highest capability number the kernel knows and `bounding` the mask
    of those capsa may grant (by default this kernel's /proc/sys/kernel/cap_last_cap and
    this process's bounding set). Raises InvalidArgument naming the flag and the bad name
    for an unknown capability, or one this kernel or environment does not have.
    """
    adds = _normalise(cap_add, "--cap-add")
    drops = _normalise(cap_drop, "--cap-drop")
    if privileged:
        caps = all_capabilities(last_cap, bounding)
    elif not adds and not drops:
        caps = list(DEFAULT_CAPABILITIES)
    else:
        known = all_capabilities(last_cap, bounding)
        for name in adds:
            # Dropping what is not there is harmless; adding it would fail at start.
            if name != ALL and name not in known:
                raise InvalidArgument(
                    f"capability {name} in --cap-add is not supported by this kernel or "
                    "not available here",
                    hint=f"capsa can grant {', '.join(_short(known))}",
                )
        if ALL in adds:
            caps = [name for name in known if name not in drops]
        elif ALL in drops:
            caps = _unique(adds)
        else:
            caps = _unique([*(c for c in DEFAULT_CAPABILITIES if c not in drops), *adds])
    return {
        "bounding": list(caps),
        "effective": list(caps),
        "permitted": list(caps),
        "inheritable": [],
        "ambient": [],
    }


def all_capabilities(last_cap: int | None = None, bounding: int | None = None) -> list[str]:
    """Every capability the kernel knows (up to `last_cap`) that is in `bounding`, by
    number; by default this kernel's and this process's bounding set, as Docker limits
    its "all" to what its environment has."""
    if last_cap is None:
        from capsa.kernel.caps import last_cap as kernel_last_cap

        last_cap = kernel_last_cap()
    if bounding is None:
        bounding = own_bounding_set()
    by_number = sorted(CAPABILITIES.items(), key=_number)
    return [name for name, number in by_number if number <= last_cap and bounding & (1 << number)]


def own_bounding_set() -> int:
    """This process's bounding set as a mask (CapBnd of /proc/self/status)."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("CapBnd:"):
                    return int(line.split()[1], 16)
    except OSError:
        pass
    return (1 << 64) - 1  # no /proc: let the runtime report what it cannot grant


def _short(names: list[str]) -> list[str]:
    return [name.removeprefix("CAP_") for name in names]


def _number(item: tuple[str, int]) -> int:
    return item[1]


def _normalise(names: Iterable[str], flag: str) -> list[str]:
    result = []
    for given in names:
        name = given.upper()
        if name != ALL and not name.startswith("CAP_"):
            name = f"CAP_{name}"
        if name != ALL and name not in CAPABILITIES:
            raise InvalidArgument(
                f"unknown capability {given!r} in {flag}",
                hint="name one of capabilities(7), with or without CAP_ (NET_ADMIN, "
                "CAP_SYS_PTRACE), or ALL",
            )
        result.append(name)
    return result


def _unique(names: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(names))
