"""capsa rmi (see capsa.cli.image_cmds)."""

from __future__ import annotations

from capsa.cli.image_cmds import rmi


def run(args: list[str]) -> int:
    return rmi(args)
