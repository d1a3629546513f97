"""capsa: the engine's command line. Commands load their module only when they run, so
`capsa --help` stays fast (pip's commands_dict)."""

from __future__ import annotations

import importlib
import os
import sys

from capsa.errors import CapsaError

# command -> (module, one-line summary)
COMMANDS: dict[str, tuple[str, str]] = {
    "history": ("capsa.cli.history", "show how an image was made"),
    "image": ("capsa.cli.image", "manage images (ls, inspect, default, tag, rm, ...)"),
    "images": ("capsa.cli.images", "list images"),
    "import": ("capsa.cli.import_", "make an image of a root filesystem tarball"),
    "info": ("capsa.cli.info", "show how this host runs containers"),
    "load": ("capsa.cli.load", "load images from a docker-archive or oci-archive"),
    "network": ("capsa.cli.network", "manage networks (create, ls, inspect, rm, prune, ...)"),
    "rmi": ("capsa.cli.rmi", "remove images"),
    "save": ("capsa.cli.save", "write images to a docker-archive or oci-archive"),
    "tag": ("capsa.cli.tag", "give an image another name"),
    "version": ("capsa.cli.version", "show capsa's version"),
}

USAGE = """\
usage: capsa [--debug] [--root DIR] COMMAND [ARGS...]

capsa is a container engine. Commands:
{commands}

The OCI runtime is a command of its own: capsa-runtime --help.
"""


def usage() -> str:
    width = max(len(name) for name in COMMANDS)
    lines = [f"  {name.ljust(width)}  {summary}" for name, (_, summary) in COMMANDS.items()]
    return USAGE.format(commands="\n".join(lines))


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    debug = False
    while args and args[0].startswith("-"):
        if args[0] == "--debug":
            debug = True
        elif args[0] == "--root" or args[0].startswith("--root="):
            # The store root for every command, as CAPSA_ROOT (Podman's --root).
            if args[0] == "--root":
                if len(args) < 2:
                    sys.stderr.write("capsa: --root needs a directory\n")
                    return 125
                value, args = args[1], args[1:]
            else:
                value = args[0].split("=", 1)[1]
            os.environ["CAPSA_ROOT"] = os.path.abspath(value)
        elif args[0] in ("-v", "--version"):
            args = ["version"]
            break
        elif args[0] in ("-h", "--help"):
            sys.stdout.write(usage())
            return 0
        else:
            sys.stderr.write(f"capsa: unknown flag {args[0]}; see capsa --help\n")
            return 125
        args = args[1:]
    if not args:
        sys.stdout.write(usage())
        return 125
    command = args[0]
    if command not in COMMANDS:
        sys.stderr.write(f"capsa: unknown command {command!r}; see capsa --help\n")
        return 125
    module = importlib.import_module(COMMANDS[command][0])
    try:
        code: int = module.run(args[1:])
        return code
    except CapsaError as exc:
        if debug:
            raise
        sys.stderr.write(f"capsa {command}: {exc}\n")
        return exc.exit_code
