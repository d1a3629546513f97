"""capsa load (see capsa.cli.image_cmds)."""

from __future__ import annotations

from capsa.cli.image_cmds import load


def run(args: list[str]) -> int:
    return load(args)
