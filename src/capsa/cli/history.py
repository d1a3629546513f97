"""capsa history (see capsa.cli.image_cmds)."""

from __future__ import annotations

from capsa.cli.image_cmds import history


def run(args: list[str]) -> int:
    return history(args)
