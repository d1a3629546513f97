"""Make an OCI bundle from Debian's static busybox: the smallest real root filesystem,
for the README's demo, the tests and the benchmarks, with no registry needed.

    python -m capsa.runtime.busybox_bundle DIR [--terminal] [-- ARGS...]
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

from capsa.errors import NotFound
from capsa.fastjson import dumps
from capsa.runtime.default_spec import default_spec

BUSYBOX_CANDIDATES = ("/bin/busybox", "/usr/bin/busybox")


def find_busybox() -> str:
    for candidate in BUSYBOX_CANDIDATES:
        if os.path.exists(candidate):
            return candidate
    raise NotFound("no static busybox found", hint="apt-get install busybox-static")


def make_rootfs(target: str) -> str:
    busybox = find_busybox()
    for directory in (
        "bin",
        "sbin",
        "etc",
        "proc",
        "sys",
        "dev",
        "tmp",
        "root",
        "var",
        "run",
        "usr/bin",
        "usr/sbin",
    ):
        os.makedirs(os.path.join(target, directory), exist_ok=True)
    os.chmod(os.path.join(target, "tmp"), 0o1777)
    shutil.copy2(busybox, os.path.join(target, "bin", "busybox"))
    applets = subprocess.run(
        [busybox, "--list"], capture_output=True, text=True, check=True
    ).stdout.split()
    for applet in applets:
        link = os.path.join(target, "bin", applet)
        if not os.path.lexists(link):
            os.symlink("busybox", link)
    with open(os.path.join(target, "etc", "passwd"), "w") as f:
        f.write(
            "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n"
        )
    with open(os.path.join(target, "etc", "group"), "w") as f:
        f.write("root:x:0:\ntty:x:5:\nnogroup:x:65534:\n")
    return target


def make_bundle(
    directory: str, args: list[str] | None = None, *, terminal: bool = False, rootless: bool = False
) -> str:
    os.makedirs(directory, exist_ok=True)
    make_rootfs(os.path.join(directory, "rootfs"))
    spec = default_spec(rootless=rootless, args=args or ["sh"], terminal=terminal)
    with open(os.path.join(directory, "config.json"), "w") as f:
        f.write(dumps(spec, indent=2) + "\n")
    return directory


def main(argv: list[str]) -> int:
    if not argv or argv[0].startswith("-"):
        print(__doc__.strip().splitlines()[-1].strip(), file=sys.stderr)
        return 2
    directory = argv[0]
    terminal = "--terminal" in argv[1 : argv.index("--")] if "--" in argv else "--terminal" in argv
    args = argv[argv.index("--") + 1 :] if "--" in argv else None
    make_bundle(directory, args, terminal=terminal)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
