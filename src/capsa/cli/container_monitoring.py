"""The commands that watch containers run: `capsa top`, `capsa stats`, `capsa events`.
Parse, call the engine, print as Docker prints."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from capsa.cli._images import Parser
from capsa.cli.container_cmds import open_engine


def top(args: list[str]) -> int:
    """`capsa top CONTAINER [ps OPTIONS]`."""
    from capsa.cli.formatter import tabwrite
    from capsa.engine.top import DEFAULT_PS_ARGS, container_top

    parser = Parser("top", "Display the running processes of a container")
    parser.add_argument("container", metavar="CONTAINER")
    parser.add_argument("ps_args", nargs=argparse.REMAINDER, metavar="ps OPTIONS")
    options = parser.parse_args(args)
    with open_engine(options.root) as engine:
        table = container_top(engine, options.container, options.ps_args or DEFAULT_PS_ARGS)
    lines = ["\t".join(table.titles)] + ["\t".join(row) for row in table.processes]
    # Docker's tabwriter for top: minimum width 20, padding 3.
    sys.stdout.write(tabwrite("\n".join(lines), minwidth=20, padding=3) + "\n")
    return 0


STATS_COLUMNS = (
    ("CONTAINER ID", "ID"),
    ("NAME", "Name"),
    ("CPU %", "CPUPerc"),
    ("MEM USAGE / LIMIT", "MemUsage"),
    ("MEM %", "MemPerc"),
    ("NET I/O", "NetIO"),
    ("BLOCK I/O", "BlockIO"),
    ("PIDS", "PIDs"),
)
STATS_HEADERS = {key: title for title, key in STATS_COLUMNS} | {"Container": "CONTAINER"}
STATS_INTERVAL = 1.0  # seconds between samples, as Docker's
CLEAR_SCREEN = "\033[2J\033[H"


def stats(args: list[str]) -> int:
    """`capsa stats [--no-stream] [--no-trunc] [--format F] [-a] [CONTAINER...]`."""
    import time

    from capsa.cli.formatter import render
    from capsa.engine.stats import sample_all, stats_row

    parser = Parser("stats", "Display a live stream of containers' resource usage")
    parser.add_argument("-a", "--all", action="store_true", help="stopped containers too")
    parser.add_argument("--no-stream", action="store_true", help="print once and exit")
    parser.add_argument("--no-trunc", action="store_true")
    parser.add_argument("--format", default="")
    parser.add_argument("containers", nargs="*", metavar="CONTAINER")
    options = parser.parse_args(args)
    default = "table " + "\t".join(f"{{{{.{key}}}}}" for _, key in STATS_COLUMNS)
    terminal = sys.stdout.isatty()
    with open_engine(options.root) as engine:

        def targets() -> list[tuple[str, Any]]:
            """(what Docker calls the row's Container, the record) for each shown."""
            if options.containers:
                return [(text, engine.find(text)) for text in options.containers]
            return [
                (record.id[:12] if not options.no_trunc else record.id, record)
                for record in engine.containers()
                if options.all or record.state.active
            ]

        previous = sample_all(engine, [record for _, record in targets()])
        try:
            while True:
                time.sleep(STATS_INTERVAL)
                shown = targets()
                current = sample_all(engine, [record for _, record in shown])
                rows = [
                    stats_row(
                        previous.get(record.id),
                        current[record.id],
                        container=given,
                        no_trunc=options.no_trunc,
                    )
                    for given, record in shown
                ]
                text = render(options.format or None, rows, default=default, headers=STATS_HEADERS)
                if options.no_stream:
                    sys.stdout.write(text)
                    return 0
                sys.stdout.write((CLEAR_SCREEN if terminal else "") + text)
                sys.stdout.flush()
                previous = current
        except KeyboardInterrupt:
            return 0


def events(args: list[str]) -> int:
    """`capsa events [--since T] [--until T] [--filter k=v] [--format F]`."""
    from capsa.cli.formatter import render
    from capsa.engine.events import EventFilter, event_document, event_line
    from capsa.engine.events import events as engine_events
    from capsa.times import parse_time_arg

    parser = Parser("events", "Get real time events from the engine")
    parser.add_argument("--since", default="", help="show events from this time on")
    parser.add_argument("--until", default="", help="stream events until this time")
    parser.add_argument("-f", "--filter", action="append", default=[])
    parser.add_argument("--format", default="")
    options = parser.parse_args(args)
    since = parse_time_arg(options.since, "--since") if options.since else None
    until = parse_time_arg(options.until, "--until") if options.until else None
    keep = EventFilter.parse(options.filter)
    with open_engine(options.root) as engine:
        try:
            for event in engine_events(engine.db, since_ns=since, until_ns=until, keep=keep):
                if options.format:
                    text = render(options.format, [event_document(event)], default="")
                else:
                    text = event_line(event) + "\n"
                sys.stdout.write(text)
                sys.stdout.flush()
        except KeyboardInterrupt:
            return 0
        except BrokenPipeError:
            return 0
    return 0
