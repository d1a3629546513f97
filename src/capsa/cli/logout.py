"""capsa logout (see capsa.cli.registry_cmds)."""

from __future__ import annotations

from capsa.cli.registry_cmds import logout


def run(args: list[str]) -> int:
    return logout(args)
