"""capsa image (see capsa.cli.image_cmds)."""

from __future__ import annotations

from capsa.cli.image_cmds import image


def run(args: list[str]) -> int:
    return image(args)
