"""`capsa builder prune [-a] [-f] [--filter until=DURATION]`: free the build cache, as
`docker builder prune`; `capsa builder du`: what it holds."""

from __future__ import annotations

import sys

from capsa.cli._images import Parser, open_store
from capsa.errors import InvalidArgument
from capsa.humanize import human_size


def prune(args: list[str]) -> int:
    from capsa.build.usage import prune_cache
    from capsa.store.images import parse_go_duration

    parser = Parser("builder prune", "Remove build cache")
    parser.add_argument("-a", "--all", action="store_true", help="also what images use")
    parser.add_argument("-f", "--force", action="store_true", help="do not ask")
    parser.add_argument("--filter", action="append", default=[], help="until=DURATION")
    options = parser.parse_args(args)
    older_than = None
    for item in options.filter:
        key, _, value = item.partition("=")
        seconds = parse_go_duration(value) if key == "until" else None
        if seconds is None:
            raise InvalidArgument(
                f"invalid --filter {item!r}", hint="use until=DURATION, e.g. until=24h"
            )
        older_than = seconds
    if not options.force:
        from capsa.cli.image_cmds import confirm

        if not confirm("WARNING! This will remove all dangling build cache."):
            return 0
    with open_store(options.root) as store:
        freed = prune_cache(store, everything=options.all, older_than=older_than)
    print(f"Total:\t{human_size(freed)}")
    return 0


def du(args: list[str]) -> int:
    from capsa.build.usage import cache_usage

    parser = Parser("builder du", "Show the build cache's disk usage")
    options = parser.parse_args(args)
    with open_store(options.root) as store:
        usage = cache_usage(store)
    print(f"Entries:\t{usage.entries}")
    print(f"Reclaimable:\t{human_size(usage.reclaimable)}")
    print(f"Total:\t{human_size(usage.size)}")
    return 0


COMMANDS = {"prune": prune, "du": du}


def run(args: list[str]) -> int:
    if not args or args[0] in ("-h", "--help"):
        sys.stdout.write("usage: capsa builder prune|du [OPTIONS]\n")
        return 0 if args else 125
    command = COMMANDS.get(args[0])
    if command is None:
        raise InvalidArgument(
            f"unknown command 'builder {args[0]}'", hint="use capsa builder prune or du"
        )
    return command(args[1:])
