"""capsa load (see capsa.cli.image_transfer)."""

from __future__ import annotations

from capsa.cli.image_transfer import load


def run(args: list[str]) -> int:
    return load(args)
