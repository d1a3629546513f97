"""capsa save (see capsa.cli.image_transfer)."""

from __future__ import annotations

from capsa.cli.image_transfer import save


def run(args: list[str]) -> int:
    return save(args)
