"""The architectures a seccomp filter can match: libseccomp names, audit constants, ABIs.

The kernel tells a filter which ABI a system call came in through by the `arch` field of
`struct seccomp_data`, an AUDIT_ARCH_* value (<linux/audit.h>). x86_64 and x32 share
AUDIT_ARCH_X86_64; an x32 call is told apart by bit 30 of the syscall number.
"""

from __future__ import annotations

import os
import sys

from capsa._record import Record
from capsa.errors import Unavailable, field_error

_EM_386 = 3
_EM_ARM = 40
_EM_X86_64 = 62
_EM_AARCH64 = 183
_AUDIT_ARCH_64BIT = 0x80000000
_AUDIT_ARCH_LE = 0x40000000

AUDIT_ARCH_I386 = _EM_386 | _AUDIT_ARCH_LE
AUDIT_ARCH_ARM = _EM_ARM | _AUDIT_ARCH_LE
AUDIT_ARCH_X86_64 = _EM_X86_64 | _AUDIT_ARCH_64BIT | _AUDIT_ARCH_LE
AUDIT_ARCH_AARCH64 = _EM_AARCH64 | _AUDIT_ARCH_64BIT | _AUDIT_ARCH_LE

X32_SYSCALL_BIT = 0x40000000


class Arch(Record):
    """One system call ABI a filter can allow."""

    __slots__ = ("arg_bits", "audit", "scmp", "table", "x32")

    def __init__(self, scmp: str, table: str, audit: int, arg_bits: int, x32: bool = False) -> None:
        self.scmp = scmp  # the libseccomp / OCI name, SCMP_ARCH_*
        self.table = table  # the name of its syscall table in capsa.runtime.seccomp.tables
        self.audit = audit  # AUDIT_ARCH_* as seen in seccomp_data.arch
        self.arg_bits = arg_bits  # width of a syscall argument; 32-bit ABIs compare the low word
        self.x32 = x32  # numbers carry X32_SYSCALL_BIT; shares `audit` with x86_64


X86_64 = Arch("SCMP_ARCH_X86_64", "X86_64", AUDIT_ARCH_X86_64, 64)
X86 = Arch("SCMP_ARCH_X86", "X86", AUDIT_ARCH_I386, 32)
# The x32 kernel entry hands seccomp full 64-bit registers, so compare all 64 bits
# (libseccomp compares 32; being stricter cannot let a call through that it would stop).
X32 = Arch("SCMP_ARCH_X32", "X32", AUDIT_ARCH_X86_64, 64, x32=True)
AARCH64 = Arch("SCMP_ARCH_AARCH64", "AARCH64", AUDIT_ARCH_AARCH64, 64)
ARM = Arch("SCMP_ARCH_ARM", "ARM", AUDIT_ARCH_ARM, 32)

SUPPORTED: dict[str, Arch] = {arch.scmp: arch for arch in (X86_64, X86, X32, AARCH64, ARM)}

# Every name the runtime-spec (libseccomp 2.6) defines; the ones missing from SUPPORTED are
# refused with a clear message rather than called unknown.
KNOWN = frozenset(
    {
        "SCMP_ARCH_X86",
        "SCMP_ARCH_X86_64",
        "SCMP_ARCH_X32",
        "SCMP_ARCH_ARM",
        "SCMP_ARCH_AARCH64",
        "SCMP_ARCH_LOONGARCH64",
        "SCMP_ARCH_M68K",
        "SCMP_ARCH_MIPS",
        "SCMP_ARCH_MIPS64",
        "SCMP_ARCH_MIPS64N32",
        "SCMP_ARCH_MIPSEL",
        "SCMP_ARCH_MIPSEL64",
        "SCMP_ARCH_MIPSEL64N32",
        "SCMP_ARCH_PPC",
        "SCMP_ARCH_PPC64",
        "SCMP_ARCH_PPC64LE",
        "SCMP_ARCH_S390",
        "SCMP_ARCH_S390X",
        "SCMP_ARCH_SH",
        "SCMP_ARCH_SHEB",
        "SCMP_ARCH_PARISC",
        "SCMP_ARCH_PARISC64",
        "SCMP_ARCH_RISCV64",
    }
)

# Names a caller may give as the target architecture: `uname -m`, Go's GOARCH, and the
# libseccomp names.
_TARGETS: dict[str, Arch] = {
    "x86_64": X86_64,
    "amd64": X86_64,
    "x32": X32,
    "i386": X86,
    "i486": X86,
    "i586": X86,
    "i686": X86,
    "386": X86,
    "x86": X86,
    "aarch64": AARCH64,
    "arm64": AARCH64,
    "arm": ARM,
    "armv6l": ARM,
    "armv7l": ARM,
    "armv8l": ARM,
    **SUPPORTED,
}

_COMPAT = {"x86_64": "i686", "aarch64": "armv7l"}


def target_arch(name: str | None = None) -> Arch:
    """The native ABI of the filter: `name` if given, else the machine we run on."""
    if name is not None:
        try:
            return _TARGETS[name]
        except KeyError:
            supported = ", ".join(sorted(SUPPORTED))
            raise field_error(
                "arch", f"unknown target architecture {name!r} (supported: {supported})"
            ) from None
    machine = os.uname().machine
    if sys.maxsize < 2**32:  # a 32-bit interpreter on a 64-bit kernel runs the compat ABI
        machine = _COMPAT.get(machine, machine)
    try:
        return _TARGETS[machine]
    except KeyError:
        raise Unavailable(
            f"seccomp filters are not supported on this machine's architecture ({machine})",
            hint="capsa compiles seccomp for x86_64, x86, x32, aarch64 and arm",
        ) from None
