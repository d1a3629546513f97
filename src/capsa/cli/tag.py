"""capsa tag (see capsa.cli.image_cmds)."""

from __future__ import annotations

from capsa.cli.image_cmds import tag


def run(args: list[str]) -> int:
    return tag(args)
