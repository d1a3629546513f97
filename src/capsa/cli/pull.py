"""capsa pull (see capsa.cli.registry_cmds)."""

from __future__ import annotations

from capsa.cli.registry_cmds import pull


def run(args: list[str]) -> int:
    return pull(args)
