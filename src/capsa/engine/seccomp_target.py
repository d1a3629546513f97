"""Where a seccomp profile is resolved for: the host's architecture and kernel version.

Docker resolves a profile's `archMap` and its `includes`/`excludes` for the architecture
the daemon was built for and the kernel it runs on. capsa resolves them for the
architecture of this machine (or one the caller names) and this kernel.
"""

from __future__ import annotations

import os
import sys

from capsa._record import Record
from capsa.errors import InvalidArgument


class Target(Record):
    """One native architecture, named the three ways profiles name it."""

    __slots__ = ("docker", "scmp", "sub_arches")

    def __init__(self, scmp: str, docker: str, sub_arches: tuple[str, ...] | None) -> None:
        self.scmp = scmp  # SCMP_ARCH_*: the OCI and libseccomp name
        self.docker = docker  # what Docker-form `includes.arches` / `excludes.arches` say
        # The other ABIs this architecture's kernels run (a 64-bit x86 kernel runs i386 and
        # x32 programs too): a filter must cover them or they become a way around it.
        # None: Docker's archMap has no entry, and its profile then lists no architecture
        # (the runtime's native one only).
        self.sub_arches = sub_arches

    def architectures(self) -> list[str]:
        """`linux.seccomp.architectures` of the default profile, as Docker resolves it."""
        if self.sub_arches is None:
            return []
        return [self.scmp, *self.sub_arches]


_TARGETS = (
    Target("SCMP_ARCH_X86_64", "amd64", ("SCMP_ARCH_X86", "SCMP_ARCH_X32")),
    Target("SCMP_ARCH_X86", "x86", None),
    Target("SCMP_ARCH_X32", "x32", None),
    Target("SCMP_ARCH_AARCH64", "arm64", ("SCMP_ARCH_ARM",)),
    Target("SCMP_ARCH_ARM", "arm", None),
    Target("SCMP_ARCH_PPC64LE", "ppc64le", None),
    Target("SCMP_ARCH_PPC64", "ppc64", None),
    Target("SCMP_ARCH_PPC", "ppc", None),
    Target("SCMP_ARCH_S390X", "s390x", ("SCMP_ARCH_S390",)),
    Target("SCMP_ARCH_S390", "s390", None),
    Target("SCMP_ARCH_RISCV64", "riscv64", ()),
    Target("SCMP_ARCH_LOONGARCH64", "loongarch64", ()),
    Target("SCMP_ARCH_MIPS64", "mips64", ("SCMP_ARCH_MIPS", "SCMP_ARCH_MIPS64N32")),
    Target("SCMP_ARCH_MIPS64N32", "mips64n32", ("SCMP_ARCH_MIPS", "SCMP_ARCH_MIPS64")),
    Target("SCMP_ARCH_MIPSEL64", "mipsel64", ("SCMP_ARCH_MIPSEL", "SCMP_ARCH_MIPSEL64N32")),
    Target("SCMP_ARCH_MIPSEL64N32", "mips3l64n32", ("SCMP_ARCH_MIPSEL", "SCMP_ARCH_MIPSEL64")),
    Target("SCMP_ARCH_MIPS", "mips", None),
    Target("SCMP_ARCH_MIPSEL", "mipsel", None),
)
_BY_SCMP = {target.scmp: target for target in _TARGETS}

# Names a caller may use: `uname -m`, Go's GOARCH (what Docker users type), and SCMP_ARCH_*.
_ALIASES: dict[str, str] = {
    "x86_64": "SCMP_ARCH_X86_64",
    "amd64": "SCMP_ARCH_X86_64",
    "i386": "SCMP_ARCH_X86",
    "i486": "SCMP_ARCH_X86",
    "i586": "SCMP_ARCH_X86",
    "i686": "SCMP_ARCH_X86",
    "386": "SCMP_ARCH_X86",
    "x86": "SCMP_ARCH_X86",
    "x32": "SCMP_ARCH_X32",
    "aarch64": "SCMP_ARCH_AARCH64",
    "arm64": "SCMP_ARCH_AARCH64",
    "arm": "SCMP_ARCH_ARM",
    "armv6l": "SCMP_ARCH_ARM",
    "armv7l": "SCMP_ARCH_ARM",
    "armv8l": "SCMP_ARCH_ARM",
    "ppc64le": "SCMP_ARCH_PPC64LE",
    "ppc64": "SCMP_ARCH_PPC64",
    "ppc": "SCMP_ARCH_PPC",
    "s390x": "SCMP_ARCH_S390X",
    "s390": "SCMP_ARCH_S390",
    "riscv64": "SCMP_ARCH_RISCV64",
    "loongarch64": "SCMP_ARCH_LOONGARCH64",
    "loong64": "SCMP_ARCH_LOONGARCH64",
    "mips64": "SCMP_ARCH_MIPS64",
    "mips64p32": "SCMP_ARCH_MIPS64N32",
    "mips64le": "SCMP_ARCH_MIPSEL64",
    "mips64el": "SCMP_ARCH_MIPSEL64",
    "mips64p32le": "SCMP_ARCH_MIPSEL64N32",
    "mips": "SCMP_ARCH_MIPS",
    "mipsle": "SCMP_ARCH_MIPSEL",
    "mipsel": "SCMP_ARCH_MIPSEL",
}

# A 32-bit interpreter on a 64-bit kernel runs the compat ABI (as the seccomp compiler's
# own default does, so that both agree on what "this machine" is).
_COMPAT = {"x86_64": "i686", "aarch64": "armv7l"}


def target(arch: str | None = None) -> Target:
    """The architecture named by `arch`, or this machine's; InvalidArgument if unknown."""
    name = arch
    if name is None:
        name = os.uname().machine
        if sys.maxsize < 2**32:
            name = _COMPAT.get(name, name)
    scmp = _ALIASES.get(name, name)
    try:
        return _BY_SCMP[scmp]
    except KeyError:
        where = "this machine's architecture" if arch is None else "architecture"
        raise InvalidArgument(
            f"no seccomp profile for {where} {name!r}",
            hint="name one of x86_64, i686, x32, aarch64, arm, ppc64le, s390x, riscv64, "
            "mips64, loongarch64 (or its SCMP_ARCH_* name)",
        ) from None


def kernel_version(release: str | None = None) -> tuple[int, int]:
    """(major, minor) of a `uname -r` string, of this kernel's by default."""
    text = os.uname().release if release is None else release
    parts = text.split(".", 2)
    try:
        major = int(parts[0])
        minor = int("".join(_leading_digits(parts[1]))) if len(parts) > 1 else 0
    except (ValueError, IndexError):
        raise InvalidArgument(
            f"cannot read the kernel version {text!r}", hint="expected MAJOR.MINOR[...]"
        ) from None
    return major, minor


def _leading_digits(text: str) -> list[str]:
    digits = []
    for char in text:
        if not char.isdigit():
            break
        digits.append(char)
    return digits
