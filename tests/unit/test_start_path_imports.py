"""What the path of a container start imports must stay cheap.

`capsa-runtime run` has to beat runc, and on this kind of machine importing typing costs
~8 ms, dataclasses ~10 ms, pathlib ~5 ms, re ~4 ms... So no module on that path may import
one of FORBIDDEN at run time (annotations name types under `TYPE_CHECKING = False`;
`from typing import TYPE_CHECKING` would itself import typing).

Each entry point is imported in a fresh interpreter. A module counts as imported by it if
it was not already loaded by the interpreter on its own (the baseline), and every such
forbidden import is blamed on the capsa module that asked for it, directly or through
other modules, so that a failure names the file to fix.
"""

from __future__ import annotations

import subprocess
import sys

import pytest

# Modules too slow to import on a container start.
FORBIDDEN = frozenset(
    {
        "argparse",
        "collections",
        "collections.abc",
        "contextlib",
        "ctypes",
        "dataclasses",
        "datetime",
        "enum",
        "functools",
        "importlib",
        "inspect",
        "json",
        "logging",
        "pathlib",
        "platform",
        "re",
        "shutil",
        "signal",
        "socket",
        "subprocess",
        "traceback",
        "typing",
        "warnings",
    }
)

# Modules a container start imports (create_manager + FsManager.create/apply/add_process,
# prepare_rootfs/finalize_rootfs, compile_seccomp/load, RealSyscalls, capabilities),
# including the ones they import lazily on that path. Extend it as the runtime gets lean:
# "capsa.runtime.create", "capsa.runtime.run", "capsa.runtime.process.init"...
ENTRY_POINTS = (
    "capsa.cgroups",
    "capsa.cgroups.manager",
    "capsa.cgroups.fs",
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
    "capsa.runtime.rootfs",
    "capsa.runtime.rootfs.cgroup_mounts",
    "capsa.runtime.seccomp",
    "capsa.runtime.seccomp.compiler",
    "capsa.runtime.seccomp.profile",
    "capsa.kernel.syscalls.real",
    "capsa.kernel.process",
    "capsa.kernel.caps",
    "capsa.kernel.clone",
    # The runtime's own start path: the CLI and every verb a container start runs.
    "capsa.runtime.cli",
    "capsa.runtime.create",
    "capsa.runtime.start",
    "capsa.runtime.run",
    "capsa.runtime.delete",
    "capsa.runtime.kill",
    "capsa.runtime.query",
    "capsa.runtime.exec",
    "capsa.runtime.pause",
    "capsa.runtime.process.spawn",
    "capsa.runtime.process.intermediate",
    "capsa.runtime.process.init",
    # What the lean launcher loads before anything else.
    "capsa.runtime.codepack",
)

# Modules known to import something forbidden, with why, while they are being fixed: an
# entry point whose only culprits are listed here is an expected failure, not an error.
# Empty this as they get fixed; the test turns strict for them by itself.
NOT_YET_LEAN: dict[str, str] = {}

# Run in the fresh interpreter, with the module to import and the comma-separated modules
# to look for as arguments. Whenever a capsa module imports one of those (even one already
# loaded) or causes one to be loaded, it prints "blame <module> <capsa module>"; then
# "loaded" and the ones that were loaded. (It must import nothing itself: json loads re.)
_PROBE = """
import builtins, sys

forbidden = set(sys.argv[2].split(","))
blame = set()  # (forbidden module, capsa module)


def _culprit(frame):
    while frame is not None:
        name = frame.f_globals.get("__name__", "")
        if name == "capsa" or name.startswith("capsa."):
            return name
        frame = frame.f_back
    return None


class _Loads:
    # First in sys.meta_path: sees every module about to be loaded, whoever asks.
    def find_spec(self, name, path=None, target=None):
        if name in forbidden:
            culprit = _culprit(sys._getframe(1))
            if culprit is not None:
                blame.add((name, culprit))
        return None


_import = builtins.__import__


def _spy(name, globals=None, locals=None, fromlist=(), level=0):
    # An import statement of a capsa module, even of a module loaded already.
    importer = (globals or {}).get("__name__", "")
    if level == 0 and (importer == "capsa" or importer.startswith("capsa.")):
        for wanted in (name, *(name + "." + item for item in fromlist or ())):
            if wanted in forbidden:
                blame.add((wanted, importer))
    return _import(name, globals, locals, fromlist, level)


before = set(sys.modules)
sys.meta_path.insert(0, _Loads())
builtins.__import__ = _spy
__import__(sys.argv[1])
for module, culprit in sorted(blame):
    print("blame", module, culprit)
print("loaded", *sorted(forbidden & (set(sys.modules) - before)))
"""


def _run(code: str, *args: str) -> str:
    result = subprocess.run(
        [sys.executable, "-c", code, *args], check=False, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


@pytest.fixture(scope="module")
def preloaded() -> frozenset[str]:
    """What the interpreter loads before running any of our code."""
    return frozenset(_run("import sys; print(*sys.modules)").split())


@pytest.mark.parametrize("module", ENTRY_POINTS)
def test_start_path_imports_nothing_slow(module: str, preloaded: frozenset[str]) -> None:
    by_culprit: dict[str, list[str]] = {}
    loaded: list[str] = []
    for line in _run(_PROBE, module, ",".join(sorted(FORBIDDEN - preloaded))).splitlines():
        kind, *words = line.split()
        if kind == "blame":
            by_culprit.setdefault(words[1], []).append(words[0])
        elif kind == "loaded":
            loaded = words
    ours = {c: imported for c, imported in by_culprit.items() if c not in NOT_YET_LEAN}
    blamed = {imported for modules in by_culprit.values() for imported in modules}
    unexplained = sorted(set(loaded) - blamed)
    assert not ours and not unexplained, (
        f"importing {module} imports {', '.join(loaded) or 'nothing new'}: "
        + "; ".join(f"{c} imports {', '.join(imported)}" for c, imported in sorted(ours.items()))
        + (f"; loaded with no capsa module asking: {', '.join(unexplained)}" if unexplained else "")
    )
    if by_culprit:
        pytest.xfail(
            "; ".join(
                f"{c} imports {', '.join(imported)}: {NOT_YET_LEAN[c]}"
                for c, imported in sorted(by_culprit.items())
            )
        )
