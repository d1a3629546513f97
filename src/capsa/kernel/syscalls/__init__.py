"""The kernel operations the runtime performs while it builds a container, behind one
interface (`Syscalls`) so mount logic can be tested without root.

- `capsa.kernel.syscalls.protocol.Syscalls`: the protocol (for type checking only).
- `capsa.kernel.syscalls.real.RealSyscalls`: performs each operation on the running kernel.
- `capsa.kernel.syscalls.recording.RecordingSyscalls`: records each call (name and
  arguments) and can be told to fail a given call, for unit tests (youki's
  syscall/test.rs).

This package's own module holds only what all three share, and is cheap to import: the
runtime imports the real implementation on every container start. The other names are
still importable from here; each is loaded on first use.
"""

from __future__ import annotations

import sys

from capsa._record import Record

TYPE_CHECKING = False
if TYPE_CHECKING:
    from capsa.kernel.syscalls.protocol import Syscalls
    from capsa.kernel.syscalls.real import RealSyscalls
    from capsa.kernel.syscalls.recording import Call, FakeNode, RecordingSyscalls

__all__ = [
    "AT_EMPTY_PATH",
    "AT_RECURSIVE",
    "Call",
    "FakeNode",
    "FileStat",
    "RealSyscalls",
    "RecordingSyscalls",
    "Syscalls",
]

_set = object.__setattr__

AT_EMPTY_PATH = 0x1000
AT_RECURSIVE = 0x8000


class FileStat(Record):
    """The part of stat(2) the runtime looks at: type and permission bits, device number."""

    __slots__ = ("mode", "rdev")
    mode: int
    rdev: int

    def __init__(self, mode: int, rdev: int = 0) -> None:
        # Set through object.__setattr__: Record's own check of each field is slow, and
        # nothing has been set yet.
        _set(self, "mode", mode)
        _set(self, "rdev", rdev)


_WHERE = {
    "Syscalls": "protocol",
    "RealSyscalls": "real",
    "RecordingSyscalls": "recording",
    "Call": "recording",
    "FakeNode": "recording",
}


def __getattr__(name: str) -> object:
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module 'capsa.kernel.syscalls' has no attribute {name!r}")
    qualified = f"capsa.kernel.syscalls.{module}"
    __import__(qualified)
    value = getattr(sys.modules[qualified], name)
    globals()[name] = value
    return value
