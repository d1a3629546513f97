"""capsa push (see capsa.cli.registry_cmds)."""

from __future__ import annotations

from capsa.cli.registry_cmds import push


def run(args: list[str]) -> int:
    return push(args)
