"""capsa save (see capsa.cli.image_cmds)."""

from __future__ import annotations

from capsa.cli.image_cmds import save


def run(args: list[str]) -> int:
    return save(args)
