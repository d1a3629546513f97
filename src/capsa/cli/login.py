"""capsa login (see capsa.cli.registry_cmds)."""

from __future__ import annotations

from capsa.cli.registry_cmds import login


def run(args: list[str]) -> int:
    return login(args)
