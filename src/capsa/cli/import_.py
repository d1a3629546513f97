"""capsa import (see capsa.cli.image_cmds)."""

from __future__ import annotations

from capsa.cli.image_cmds import import_


def run(args: list[str]) -> int:
    return import_(args)
