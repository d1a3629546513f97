"""A code pack: the compiled modules of the runtime in one file, for `capsa-runtime`.

A container start imports some 60 capsa modules. Importing each from its own .pyc
costs ~30 us of finding, opening, checking and reading on top of running it: ~2 ms a
start. The lean launcher (capsa.runtime.launcher) installs a finder that serves them
from one pack instead, read with one open.

It is the same code: each entry is what the import system itself would compile from the
source (same file name, no optimisation), and an entry is used only while its source
file has the size and modification time it had when the pack was built; any other module,
or one edited since, is imported the ordinary way. A pack built by another Python
version, or a run with -O, is not used at all.
"""

from __future__ import annotations

import marshal
import os
import sys

TYPE_CHECKING = False
if TYPE_CHECKING:
    from types import CodeType, ModuleType
    from typing import Any

    # name -> (is a package, source path, source mtime_ns, source size, offset, length)
    Index = dict[str, tuple[bool, str, int, int, int, int]]

FORMAT = 2
# What a container start imports, directly or not, whatever the config: every runtime
# verb's module and what they load lazily (cgroup controllers, seccomp). The pack holds
# these and every capsa module they import.
START_MODULES = (
    "capsa.runtime.cli",
    "capsa.runtime.run",
    "capsa.runtime.create",
    "capsa.runtime.start",
    "capsa.runtime.delete",
    "capsa.runtime.kill",
    "capsa.runtime.query",
    "capsa.runtime.exec",
    "capsa.runtime.pause",
    "capsa.runtime.update",
    "capsa.runtime.console",
    "capsa.runtime.tty",
    "capsa.runtime.seccomp",
    "capsa.runtime.seccomp.compiler",
    "capsa.runtime.seccomp.profile",
    "capsa.runtime.seccomp.tables",
    "capsa.cgroups.resources",
    "capsa.cgroups.cpuset",
    "capsa.cgroups.memory",
    "capsa.cgroups.cpu",
    "capsa.cgroups.pids",
    "capsa.cgroups.blkio",
    "capsa.cgroups.hugetlb",
    "capsa.cgroups.net",
    "capsa.cgroups.rdma",
    "capsa.cgroups.devices",
    "capsa.cgroups.devices_v1",
    "capsa.cgroups.ebpf",
    "capsa.cgroups.unified",
    "capsa.cgroups.freezer",
)
_LENGTH = 4  # bytes of the header's length, before the header


def _magic() -> bytes:
    magic: bytes = sys.modules["_frozen_importlib_external"].MAGIC_NUMBER
    return magic


def _closure(modules: tuple[str, ...]) -> list[str]:
    """`modules` and every capsa module they import (with any this process imported
    already: the launcher and this module), by importing them here."""
    for name in modules:
        __import__(name)
    return sorted(n for n in sys.modules if n == "capsa" or n.startswith("capsa."))


def build(path: str, modules: tuple[str, ...] = START_MODULES) -> int:
    """Write the pack of `modules` and the capsa modules they import. Returns how many
    modules it holds."""
    index: Index = {}
    blobs = []
    offset = 0
    for name in _closure(modules):
        module = sys.modules[name]
        source = getattr(module, "__file__", None)
        if not source or not source.endswith(".py"):
            continue  # a namespace package, or not from a source file
        with open(source, "rb") as f:
            stat = os.fstat(f.fileno())
            data = f.read()
        code = marshal.dumps(compile(data, source, "exec", dont_inherit=True, optimize=0))
        is_package = hasattr(module, "__path__")
        index[name] = (is_package, source, stat.st_mtime_ns, stat.st_size, offset, len(code))
        blobs.append(code)
        offset += len(code)
    header = marshal.dumps((FORMAT, _magic(), index))
    temporary = f"{path}.{os.getpid()}.tmp"
    with open(temporary, "wb") as f:
        f.write(len(header).to_bytes(_LENGTH, "little"))
        f.write(header)
        f.writelines(blobs)
    os.replace(temporary, path)
    return len(index)


def install(path: str) -> bool:
    """Serve the modules of the pack at `path` from now on; False (and nothing changed)
    if it is missing, damaged, or not for this interpreter."""
    if sys.flags.optimize:
        return False
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
        try:
            data = os.read(fd, os.fstat(fd).st_size)
        finally:
            os.close(fd)
        length = int.from_bytes(data[:_LENGTH], "little")
        header = marshal.loads(memoryview(data)[_LENGTH : _LENGTH + length])
    except (OSError, EOFError, ValueError, TypeError):
        return False
    if not (isinstance(header, tuple) and len(header) == 3 and header[:2] == (FORMAT, _magic())):
        return False
    sys.meta_path.insert(0, PackFinder(header[2], memoryview(data)[_LENGTH + length :]))
    return True


class PackFinder:
    """A meta path finder and loader for the modules of one pack."""

    def __init__(self, index: Index, blobs: memoryview) -> None:
        self._index = index
        self._blobs = blobs

    def find_spec(self, name: str, path: Any = None, target: ModuleType | None = None) -> Any:
        entry = self._index.get(name)
        if entry is None:
            return None
        is_package, source, mtime_ns, size = entry[:4]
        try:
            stat = os.stat(source)
        except OSError:
            return None
        if stat.st_mtime_ns != mtime_ns or stat.st_size != size:
            return None  # edited since the pack was built: import the source
        spec = sys.modules["_frozen_importlib"].ModuleSpec(
            name, self, origin=source, is_package=is_package
        )
        spec.has_location = True  # __file__ is the source, as for any module
        if is_package:
            spec.submodule_search_locations = [os.path.dirname(source)]
        return spec

    def create_module(self, spec: Any) -> None:
        return None  # the default module object

    def get_code(self, name: str) -> CodeType:
        offset, length = self._index[name][4:]
        code: CodeType = marshal.loads(self._blobs[offset : offset + length])
        return code

    def exec_module(self, module: ModuleType) -> None:
        exec(self.get_code(module.__name__), module.__dict__)
