"""`capsa commit [OPTIONS] CONTAINER [REPOSITORY[:TAG]]`: an image of a container's
changes (Docker's `commit`). Prints the new image's ID."""

from __future__ import annotations

import argparse
import sys

from capsa.cli._images import Parser
from capsa.cli.container_cmds import open_engine
from capsa.errors import InvalidArgument

_BOOLEANS = {"true": True, "1": True, "false": False, "0": False}


def run(args: list[str]) -> int:
    from capsa.engine.commit import CommitOptions, commit_container

    parser = Parser("commit", "Create a new image from a container's changes")
    parser.add_argument("-a", "--author", default="", help='e.g. "Jane Doe <jane@example.com>"')
    parser.add_argument(
        "-c", "--change", action="append", default=[], help="a Dockerfile instruction to apply"
    )
    parser.add_argument("-m", "--message", default="", help="the commit message")
    parser.add_argument(
        "-p",
        "--pause",
        action="store_const",
        const="true",
        default="true",
        help="pause the container while it is committed (the default; --pause=false not to)",
    )
    parser.add_argument("--pause-value", dest="pause", help=argparse.SUPPRESS)
    parser.add_argument("container", metavar="CONTAINER")
    parser.add_argument("reference", nargs="?", metavar="REPOSITORY[:TAG]")
    options = parser.parse_args([_pause_value(arg) for arg in args])
    pause = _BOOLEANS.get(options.pause.lower())
    if pause is None:
        raise InvalidArgument(
            f"invalid --pause value {options.pause!r}: not a boolean", hint="use true or false"
        )
    with open_engine(options.root) as engine:
        record = commit_container(
            engine,
            options.container,
            CommitOptions(
                reference=options.reference,
                author=options.author,
                message=options.message,
                changes=options.change,
                pause=pause,
            ),
        )
    sys.stdout.write(f"{record.id}\n")
    return 0


def _pause_value(arg: str) -> str:
    """Docker's boolean flag takes a value only after `=`: `-p CONTAINER` is no value."""
    for flag in ("--pause=", "-p="):
        if arg.startswith(flag):
            return "--pause-value=" + arg[len(flag) :]
    return arg
