"""capsa images (see capsa.cli.image_list)."""

from __future__ import annotations

from capsa.cli.image_list import images


def run(args: list[str]) -> int:
    return images(args)
