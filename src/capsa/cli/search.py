"""capsa search (see capsa.cli.registry_cmds)."""

from __future__ import annotations

from capsa.cli.registry_cmds import search


def run(args: list[str]) -> int:
    return search(args)
