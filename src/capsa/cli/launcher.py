"""Write a lean `capsa` command in place of the console script pip makes, as
capsa.runtime.launcher does for `capsa-runtime`: Python without `site`, and the modules
of `capsa run`'s path (the command server's client; and, when the command runs here,
the flags, the spec, the spawner client, the attach relay) read from one code pack.
Every other command works the same, importing the usual way.

    python -m capsa.cli.launcher [PATH]   (default: capsa next to python)
"""

from __future__ import annotations

import os
import sys

from capsa.errors import CapsaError
from capsa.runtime.launcher import build_pack, default_pack, import_paths, write_launcher

CLI_MODULES = (
    "capsa.cli.main",
    "capsa.cli.container_cmds",
    "capsa.cli._runflags",
    "capsa.cli._attach",
    "capsa.cli._images",
    "capsa.engine.spec",
    "capsa.engine.spawner",
    "capsa.engine.layout",
    "capsa.monitor.attach",
    # the way to the command server (capsa run and build are served there)
    "capsa.cli.remote",
    "capsa.paths",
    "capsa.fastjson",
    "capsa.detach",
)


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) > 1:
        sys.stderr.write("usage: python -m capsa.cli.launcher [PATH]\n")
        return 2
    python = sys.executable
    path = args[0] if args else os.path.join(os.path.dirname(python), "capsa")
    pack = default_pack("cli")
    try:
        build_pack(pack, CLI_MODULES)
        write_launcher(
            path,
            python,
            import_paths(),
            pack,
            name="capsa",
            writer="capsa.cli.launcher",
            entry=("capsa.cli.main", "program", "program()"),
            collect=True,  # `capsa` may be a long-lived server
        )
    except CapsaError as exc:
        sys.stderr.write(f"capsa.cli.launcher: {exc}\n")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
