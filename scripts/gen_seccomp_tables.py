#!/usr/bin/env python3
"""Regenerate src/capsa/runtime/seccomp/tables.py: syscall name -> number, per architecture.

The numbers come from the kernel's UAPI headers as Debian packages them:

    apt-get install -y gcc linux-libc-dev linux-libc-dev-arm64-cross linux-libc-dev-armhf-cross

Each architecture's <asm/unistd.h> is run through the C preprocessor (only the
preprocessor: no cross compiler is needed) so that the headers' own conditionals decide
which names exist, exactly as they do for a libc built for that architecture. The
expanded expressions are plain integer arithmetic, evaluated here.

Debian 12 ships Linux 6.1 headers. Most system calls added since then use the same number
on every architecture this table covers (the kernel's unified scripts/syscall.tbl); they
are listed in NEWER_SYSCALLS below, the few architecture-specific ones in NEWER_BY_TABLE,
and added where the headers lack them; a header value always wins.

Usage: python3 scripts/gen_seccomp_tables.py [--check]
"""

from __future__ import annotations

import argparse
import ast
import operator
import re
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OUTPUT = ROOT / "src" / "capsa" / "runtime" / "seccomp" / "tables.py"

X32_SYSCALL_BIT = 0x40000000


class Source:
    def __init__(
        self,
        table: str,
        include_dir: str,
        header: str,
        defines: tuple[str, ...],
        prefixes: tuple[str, ...],
        package: str,
    ) -> None:
        self.table = table
        self.include_dir = include_dir
        self.header = header
        self.defines = defines
        self.prefixes = prefixes
        self.package = package


SOURCES = (
    Source(
        "X86_64",
        "/usr/include/x86_64-linux-gnu",
        "asm/unistd_64.h",
        (),
        ("__NR_",),
        "linux-libc-dev",
    ),
    Source(
        "X86", "/usr/include/x86_64-linux-gnu", "asm/unistd_32.h", (), ("__NR_",), "linux-libc-dev"
    ),
    Source(
        "X32",
        "/usr/include/x86_64-linux-gnu",
        "asm/unistd_x32.h",
        (f"__X32_SYSCALL_BIT={X32_SYSCALL_BIT:#x}",),
        ("__NR_",),
        "linux-libc-dev",
    ),
    Source(
        "AARCH64",
        "/usr/aarch64-linux-gnu/include",
        "asm/unistd.h",
        (),
        ("__NR_",),
        "linux-libc-dev-arm64-cross",
    ),
    # EABI, as every ARM distribution of the last 15 years; the private ARM calls
    # (__ARM_NR_breakpoint, cacheflush, set_tls...) are named as libseccomp names them.
    Source(
        "ARM",
        "/usr/arm-linux-gnueabihf/include",
        "asm/unistd.h",
        ("__ARM_EABI__=1",),
        ("__NR_", "__ARM_NR_"),
        "linux-libc-dev-armhf-cross",
    ),
)

# Macros that look like syscalls but are bases, masks or counts.
NOT_SYSCALLS = frozenset(
    {
        "__NR_syscalls",
        "__NR_SYSCALL_BASE",
        "__NR_OABI_SYSCALL_BASE",
        "__NR_SYSCALL_MASK",
        "__ARM_NR_BASE",
        "__NR_Linux",
    }
)

# Added after Linux 6.1, numbered from the kernel's scripts/syscall.tbl (the "common" ABI,
# same number on x86_64, i386, x32 (plus the x32 bit), arm64 and arm).
NEWER_SYSCALLS = {
    "cachestat": 451,  # 6.5
    "fchmodat2": 452,  # 6.6
    "futex_wake": 454,  # 6.7
    "futex_wait": 455,
    "futex_requeue": 456,
    "statmount": 457,  # 6.8
    "listmount": 458,
    "lsm_get_self_attr": 459,
    "lsm_set_self_attr": 460,
    "lsm_list_modules": 461,
    "mseal": 462,  # 6.10
    "setxattrat": 463,  # 6.13
    "getxattrat": 464,
    "listxattrat": 465,
    "removexattrat": 466,
    "open_tree_attr": 467,  # 6.15
    "file_getattr": 468,  # 6.17
    "file_setattr": 469,
    "listns": 470,  # 6.18
}
# Architecture-specific ones. map_shadow_stack is 64-bit only: syscall_64.tbl's "64" ABI
# (not x32, not i386) and arm64. uretprobe (6.11) is "common" in syscall_64.tbl: x86_64 and
# x32 only.
NEWER_BY_TABLE = {
    "X86_64": {"map_shadow_stack": 453, "uretprobe": 335},
    "X32": {"uretprobe": 335},
    "AARCH64": {"map_shadow_stack": 453},
}

_BINARY: dict[type[ast.operator], Callable[[int, int], int]] = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.BitOr: operator.or_,
    ast.LShift: operator.lshift,
}


def evaluate(expression: str) -> int:
    """Evaluate the integer arithmetic a syscall macro expands to, e.g. `(0 + 0x0f0000 + 2)`."""

    def walk(node: ast.AST) -> int:
        if isinstance(node, ast.Expression):
            return walk(node.body)
        if isinstance(node, ast.Constant) and isinstance(node.value, int):
            return node.value
        if isinstance(node, ast.BinOp) and type(node.op) in _BINARY:
            return _BINARY[type(node.op)](walk(node.left), walk(node.right))
        raise ValueError(f"not a syscall number expression: {expression!r}")

    cleaned = re.sub(r"(?<=[0-9a-fA-Fx])[uUlL]+\b", "", expression)
    return walk(ast.parse(cleaned, mode="eval"))


def preprocess(source: Source, text: str, *extra: str) -> str:
    with tempfile.NamedTemporaryFile("w", suffix=".c") as handle:
        handle.write(text)
        handle.flush()
        command = ["gcc", "-E", "-P", *extra, "-nostdinc", "-undef", "-I", source.include_dir]
        command += [f"-D{define}" for define in source.defines]
        command.append(handle.name)
        return subprocess.run(command, check=True, capture_output=True, text=True).stdout


def read_source(source: Source) -> dict[str, int]:
    if not Path(source.include_dir, source.header).exists():
        sys.exit(f"missing {source.include_dir}/{source.header}: apt-get install {source.package}")
    include = f"#include <{source.header}>\n"
    macros = []
    for line in preprocess(source, include, "-dM").splitlines():
        parts = line.split(maxsplit=2)
        if len(parts) >= 2 and parts[0] == "#define":
            name = parts[1]
            if name.startswith(source.prefixes) and name not in NOT_SYSCALLS and "(" not in name:
                macros.append(name)
    # The name goes in a string literal, which the preprocessor leaves alone.
    probe = include + "".join(f'capsa_syscall "{name}" = {name} ;\n' for name in macros)
    numbers: dict[str, int] = {}
    for line in preprocess(source, probe).splitlines():
        if not line.startswith("capsa_syscall "):
            continue
        match = re.fullmatch(r'capsa_syscall "(\w+)" = (.*) ;', line.strip())
        if match is None:
            sys.exit(f"cannot parse preprocessor output: {line!r}")
        macro, expression = match.groups()
        name = macro.removeprefix("__ARM_NR_").removeprefix("__NR_")
        numbers[name] = evaluate(expression)
    return numbers


# The end of the generated module: builds a table from its text on first use.
LOADER = """

def __getattr__(name: str) -> dict[str, int]:
    text = _TEXT.get(name)
    if text is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    words = text.split()
    numbers = words[1::2]
    base = 0 if "0x" in text else 10  # base 0 reads 0x..., and is slower
    table = dict(zip(words[::2], map(int, numbers, [base] * len(numbers)), strict=True))
    globals()[name] = table
    return table
"""


def render(tables: dict[str, dict[str, int]]) -> str:
    """The module: each table as text, one "name number" line per syscall, turned into a
    dict on first use. Building every dict at import would cost more (about 0.3 ms) than
    compiling a filter that needs only one or two of them."""
    lines = [
        '"""Syscall name -> number for each architecture the seccomp compiler supports.',
        "",
        "GENERATED by scripts/gen_seccomp_tables.py from the Linux UAPI headers of Debian's",
        "linux-libc-dev, linux-libc-dev-arm64-cross and linux-libc-dev-armhf-cross (plus the",
        "syscalls added since those headers, listed in the script). Do not edit by hand.",
        "x32 numbers include the x32 bit (0x40000000), as seccomp sees them.",
        "",
        f"Each table ({', '.join(tables)}) is a dict[str, int] attribute of this module,",
        'built on first use from the text below ("name number" lines): importing the module',
        "builds nothing, and a filter for one architecture pays for that table alone.",
        '"""',
        "",
        "from __future__ import annotations",
        "",
    ]
    for table in tables:
        lines.append(f"{table}: dict[str, int]  # built by __getattr__ on first use")
    lines.append("")
    lines.append("_TEXT = {")
    for table, numbers in tables.items():
        lines.append(f'    "{table}": """\\')
        for name, number in sorted(numbers.items(), key=lambda item: (item[1], item[0])):
            value = f"0x{number:X}" if number >= 0x10000 else str(number)
            lines.append(f"{name} {value}")
        lines.append('""",')
    lines.append("}")
    return "\n".join(lines) + "\n" + LOADER


def build() -> str:
    tables: dict[str, dict[str, int]] = {}
    for source in SOURCES:
        numbers = read_source(source)
        extra = dict(NEWER_SYSCALLS)
        extra.update(NEWER_BY_TABLE.get(source.table, {}))
        base = X32_SYSCALL_BIT if source.table == "X32" else 0
        for name, number in extra.items():
            numbers.setdefault(name, base + number)
        tables[source.table] = numbers
    return render(tables)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="fail if tables.py is stale")
    arguments = parser.parse_args()
    text = build()
    if arguments.check:
        if OUTPUT.read_text() != text:
            sys.exit(f"{OUTPUT} is stale: run {Path(__file__).name}")
        return
    OUTPUT.write_text(text)
    print(f"wrote {OUTPUT}")


if __name__ == "__main__":
    main()
