"""capsa network (see capsa.cli.network_cmds)."""

from __future__ import annotations

from capsa.cli.network_cmds import network


def run(args: list[str]) -> int:
    return network(args)
