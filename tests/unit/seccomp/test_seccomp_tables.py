"""The generated syscall tables, and that importing the package stays cheap."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from capsa.runtime.seccomp import tables

ROOT = Path(__file__).resolve().parents[3]
GENERATOR = ROOT / "scripts" / "gen_seccomp_tables.py"


@pytest.mark.parametrize(
    ("table", "name", "number"),
    [
        (tables.X86_64, "read", 0),
        (tables.X86_64, "execve", 59),
        (tables.X86_64, "openat", 257),
        (tables.X86_64, "seccomp", 317),
        (tables.X86_64, "clone3", 435),
        (tables.X86_64, "cachestat", 451),  # newer than the packaged headers
        (tables.X86_64, "map_shadow_stack", 453),
        (tables.X86, "execve", 11),
        (tables.X86, "socketcall", 102),
        (tables.X86, "socket", 359),
        (tables.X86, "clone3", 435),
        (tables.X32, "read", 0x40000000),
        (tables.X32, "execve", 0x40000208),
        (tables.X32, "openat", 0x40000101),
        (tables.X32, "cachestat", 0x40000000 + 451),
        (tables.AARCH64, "openat", 56),
        (tables.AARCH64, "renameat", 38),
        (tables.AARCH64, "fstat", 80),
        (tables.AARCH64, "newfstatat", 79),
        (tables.AARCH64, "execve", 221),
        (tables.AARCH64, "clone3", 435),
        (tables.ARM, "execve", 11),
        (tables.ARM, "openat", 322),
        (tables.ARM, "breakpoint", 0x0F0001),
        (tables.ARM, "cacheflush", 0x0F0002),
        (tables.ARM, "sync_file_range2", 341),
        (tables.ARM, "arm_sync_file_range", 341),
    ],
)
def test_known_numbers(table: dict[str, int], name: str, number: int) -> None:
    assert table[name] == number


def test_legacy_calls_absent_where_the_abi_never_had_them() -> None:
    for name in ("open", "fork", "stat", "poll", "dup2"):
        assert name not in tables.AARCH64
    assert "socketcall" not in tables.X86_64
    assert "map_shadow_stack" not in tables.X86
    assert "arch_prctl" in tables.X86_64


def test_x32_numbers_carry_the_x32_bit_and_others_do_not() -> None:
    assert all(nr & 0x40000000 for nr in tables.X32.values())
    for table in (tables.X86_64, tables.X86, tables.AARCH64, tables.ARM):
        assert not any(nr & 0x40000000 for nr in table.values())


def test_sizes() -> None:
    for table in (tables.X86_64, tables.X86, tables.X32, tables.AARCH64, tables.ARM):
        assert 300 < len(table) < 600


@pytest.mark.skipif(
    shutil.which("gcc") is None
    or not Path("/usr/aarch64-linux-gnu/include/asm/unistd.h").exists()
    or not Path("/usr/arm-linux-gnueabihf/include/asm/unistd.h").exists()
    or not Path("/usr/include/x86_64-linux-gnu/asm/unistd_64.h").exists(),
    reason="needs gcc, linux-libc-dev, linux-libc-dev-arm64-cross and -armhf-cross",
)
def test_generated_module_is_fresh() -> None:
    result = subprocess.run(
        [sys.executable, str(GENERATOR), "--check"], check=False, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr


def test_importing_the_package_loads_no_compiler_tables_or_ctypes() -> None:
    heavy = [f"capsa.runtime.seccomp.{name}" for name in ("tables", "compiler", "profile")]
    code = (
        "import sys, capsa.runtime.seccomp; "
        f"print([name for name in {[*heavy, 'ctypes']!r} if name in sys.modules])"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], check=False, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


def test_feature_lists_match_what_is_accepted() -> None:
    from capsa.runtime import seccomp
    from capsa.runtime.seccomp import arches, profile

    assert set(seccomp.SUPPORTED_ACTIONS) == set(profile.ACTIONS) - {"SCMP_ACT_NOTIFY"}
    assert set(seccomp.SUPPORTED_OPERATORS) == profile.OPERATORS
    assert set(seccomp.SUPPORTED_ARCHES) == set(arches.SUPPORTED)
    assert set(seccomp.KNOWN_FLAGS) == set(profile.FLAGS)
    assert set(seccomp.SUPPORTED_FLAGS) == {name for name, bit in profile.FLAGS.items() if bit}
