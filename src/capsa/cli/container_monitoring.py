"""The commands that watch containers run: `capsa top`, `capsa stats`, `capsa events`.
Parse, call the engine, print as Docker prints."""

from __future__ import annotations

import argparse
import sys

from capsa.cli._images import Parser
from capsa.cli.container_cmds import open_engine


def top(args: list[str]) -> int:
    """`capsa top CONTAINER [ps OPTIONS]`."""
    from capsa.cli.formatter import tabwrite
    from capsa.engine.top import DEFAULT_PS_ARGS, container_top

    parser = Parser("top", "Display the running processes of a container")
    parser.add_argument("container", metavar="CONTAINER")
    parser.add_argument("ps_args", nargs=argparse.REMAINDER, metavar="ps OPTIONS")
    options = parser.parse_args(args)
    with open_engine(options.root) as engine:
        table = container_top(engine, options.container, options.ps_args or DEFAULT_PS_ARGS)
    lines = ["\t".join(table.titles)] + ["\t".join(row) for row in table.processes]
    # Docker's tabwriter for top: minimum width 20, padding 3.
    sys.stdout.write(tabwrite("\n".join(lines), minwidth=20, padding=3) + "\n")
    return 0
