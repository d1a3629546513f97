"""The code pack the lean launcher loads the runtime from: it serves the same modules,
never stale ones, and a pack that is not right is left unused."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import capsa
from capsa.runtime import codepack

SRC = Path(capsa.__file__).resolve().parent.parent


def _python(code: str, src: Path, *flags: str) -> str:
    """Run code in a fresh interpreter without site, capsa importable from src."""
    prelude = f"import sys; sys.path.insert(0, {str(src)!r})\n"
    result = subprocess.run(
        [sys.executable, "-S", *flags, "-c", prelude + code],
        capture_output=True,
        text=True,
        check=False,
        env={k: v for k, v in os.environ.items() if not k.startswith("PYTHON")},
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


def _build(src: Path, pack: Path) -> int:
    return int(
        _python(f"from capsa.runtime import codepack; print(codepack.build({str(pack)!r}))", src)
    )


def _loaders(src: Path, pack: Path, *modules: str, flags: tuple[str, ...] = ()) -> list[str]:
    code = (
        "from capsa.runtime import codepack\n"
        f"print(codepack.install({str(pack)!r}))\n"
        f"for name in {list(modules)!r}:\n"
        "    __import__(name)\n"
        "    m = sys.modules[name]\n"
        "    print(type(m.__spec__.loader).__name__, m.__file__)\n"
    )
    return _python(code, src, *flags).splitlines()


def test_the_start_path_comes_from_the_pack(tmp_path: Path) -> None:
    pack = tmp_path / "runtime.pack"
    assert _build(SRC, pack) > 40
    lines = _loaders(SRC, pack, "capsa.runtime.create", "capsa.cgroups.fs", "capsa.store")
    assert lines[0] == "True"
    assert lines[1] == f"PackFinder {SRC}/capsa/runtime/create.py"
    assert lines[2] == f"PackFinder {SRC}/capsa/cgroups/fs.py"
    assert lines[3].startswith("SourceFileLoader ")  # not on the start path: not packed


def test_an_edited_module_is_imported_from_its_source(tmp_path: Path) -> None:
    src = tmp_path / "src"
    shutil.copytree(SRC / "capsa", src / "capsa", ignore=shutil.ignore_patterns("__pycache__"))
    pack = tmp_path / "runtime.pack"
    _build(src, pack)
    edited = src / "capsa" / "runtime" / "state.py"
    edited.write_text(edited.read_text() + "\nEDITED = True\n")
    code = (
        "from capsa.runtime import codepack\n"
        f"codepack.install({str(pack)!r})\n"
        "import capsa.runtime.state as s, capsa.runtime.start as t\n"
        "print(type(s.__spec__.loader).__name__, s.EDITED)\n"
        "print(type(t.__spec__.loader).__name__)\n"
    )
    assert _python(code, src).splitlines() == ["SourceFileLoader True", "PackFinder"]


@pytest.mark.parametrize("content", [b"", b"not a pack", b"\x10\x00\x00\x00garbage"])
def test_a_damaged_pack_is_not_used(tmp_path: Path, content: bytes) -> None:
    pack = tmp_path / "runtime.pack"
    pack.write_bytes(content)
    before = list(sys.meta_path)
    assert codepack.install(str(pack)) is False
    assert sys.meta_path == before


def test_a_missing_pack_is_not_used(tmp_path: Path) -> None:
    assert codepack.install(str(tmp_path / "nothing")) is False


def test_not_with_optimisation(tmp_path: Path) -> None:
    # -O drops asserts: the pack holds code compiled with them, so it stays unused.
    pack = tmp_path / "runtime.pack"
    _build(SRC, pack)
    assert _loaders(SRC, pack, "capsa.runtime.create", flags=("-O",))[0] == "False"
