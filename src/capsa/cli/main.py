"""capsa: the engine's command line. Commands load their module only when they run, so
`capsa --help` stays fast (pip's commands_dict)."""

from __future__ import annotations

import importlib
import os
import sys

from capsa.errors import CapsaError

TYPE_CHECKING = False  # typing itself costs an import
if TYPE_CHECKING:
    from typing import NoReturn

# command -> ("module" or "module:function", one-line summary); a module's entry is `run`
_C = "capsa.cli.container_cmds"
_F = "capsa.cli.container_files"
_M = "capsa.cli.container_monitoring"
COMMANDS: dict[str, tuple[str, str]] = {
    "attach": (f"{_C}:attach", "attach to a running container's input and output"),
    "build": ("capsa.cli.build", "build an image from a Containerfile or Dockerfile"),
    "builder": ("capsa.cli.builder", "manage the build cache (prune, du)"),
    "commit": ("capsa.cli.commit", "make an image of a container's changes"),
    "container": (f"{_C}:container", "manage containers (ls, prune, ...)"),
    "cp": (f"{_F}:cp", "copy files between a container and the local file system"),
    "create": (f"{_C}:create", "create a container, not started"),
    "diff": (f"{_F}:diff", "list the files a container changed, added or deleted"),
    "events": (f"{_M}:events", "show the engine's events as they happen"),
    "exec": (f"{_C}:exec_", "run a command in a running container"),
    "export": (f"{_F}:export", "write a container's file system as a tar archive"),
    "history": ("capsa.cli.history", "show how an image was made"),
    "image": ("capsa.cli.image", "manage images (ls, inspect, default, tag, rm, ...)"),
    "images": ("capsa.cli.images", "list images"),
    "import": ("capsa.cli.import_", "make an image of a root filesystem tarball"),
    "info": ("capsa.cli.info", "show how this host runs containers"),
    "inspect": (f"{_C}:inspect", "show containers, images or volumes in detail"),
    "kill": (f"{_C}:kill", "send a signal to running containers"),
    "load": ("capsa.cli.load", "load images from a docker-archive or oci-archive"),
    "login": ("capsa.cli.login", "log in to a registry"),
    "logout": ("capsa.cli.logout", "log out of a registry"),
    "logs": (f"{_C}:logs", "show a container's output"),
    "network": ("capsa.cli.network", "manage networks (create, ls, inspect, rm, prune, ...)"),
    "pause": (f"{_C}:pause", "pause all processes of containers"),
    "port": (f"{_C}:port", "list a container's published ports"),
    "ps": (f"{_C}:ps", "list containers"),
    "pull": ("capsa.cli.pull", "download an image from a registry"),
    "push": ("capsa.cli.push", "upload an image to a registry"),
    "registry": ("capsa.cli.registry", "run an OCI distribution registry (serve, gc)"),
    "rename": (f"{_C}:rename", "rename a container"),
    "restart": (f"{_C}:restart", "restart containers"),
    "rm": (f"{_C}:rm", "remove containers"),
    "rmi": ("capsa.cli.rmi", "remove images"),
    "run": (f"{_C}:run", "create and start a container"),
    "save": ("capsa.cli.save", "write images to a docker-archive or oci-archive"),
    "search": ("capsa.cli.search", "search a registry for images"),
    "start": (f"{_C}:start", "start stopped containers"),
    "stats": (f"{_M}:stats", "show containers' resource usage (CPU, memory, I/O)"),
    "stop": (f"{_C}:stop", "stop running containers"),
    "system": ("capsa.cli.system", "disk usage (df), remove what is unused (prune) or all (reset)"),
    "tag": ("capsa.cli.tag", "give an image another name"),
    "top": (f"{_M}:top", "show the running processes of a container"),
    "unpause": (f"{_C}:unpause", "unpause all processes of containers"),
    "version": ("capsa.cli.version", "show capsa's version"),
    "volume": ("capsa.cli.volume_cmds:volume", "manage volumes (create, ls, inspect, rm, prune)"),
    "wait": (f"{_C}:wait", "wait for containers to stop, print their exit codes"),
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


# Commands run in the command server (capsa.cli.server) when it can be had: their own
# work is small beside the imports a fresh process pays for.
SERVED = frozenset({"build", "run"})


_served = False  # the command ran in the command server, not here


def program() -> NoReturn:
    """The `capsa` program: main(); and when the command ran in the command server, so
    that nothing of its work is in this process, an exit without the interpreter's
    teardown (a millisecond or two of a `capsa run`)."""
    code = main()
    if _served:
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
            except (OSError, ValueError):
                pass
        os._exit(code)
    sys.exit(code)


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    original = list(args)
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
    if command in SERVED:
        from capsa.cli.remote import run_remote

        # A killed `capsa run` leaves its container running, as Docker's; a killed build
        # is cancelled, as BuildKit's.
        code_there = run_remote(original, hangup="detach" if command == "run" else "interrupt")
        if code_there is not None:
            global _served
            _served = True
            return code_there
    module_name, _, function = COMMANDS[command][0].partition(":")
    module = importlib.import_module(module_name)
    try:
        code: int = getattr(module, function or "run")(args[1:])
        return code
    except CapsaError as exc:
        if debug:
            raise
        sys.stderr.write(f"capsa {command}: {exc}\n")
        return exc.exit_code
