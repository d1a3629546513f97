"""capsa images (see capsa.cli.image_cmds)."""

from __future__ import annotations

from capsa.cli.image_cmds import images


def run(args: list[str]) -> int:
    return images(args)
