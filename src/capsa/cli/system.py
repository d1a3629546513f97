"""capsa system: `df` (the disk space things take, as `docker system df` prints it),
`prune` (everything unused, as `docker system prune`) and `reset` (everything, and the
root's directories emptied, as `podman system reset`; capsa.engine.reset does it).

The image store answers for images. Containers, volumes and the build cache belong to
the engine and the builder: they add their rows and verbose sections through `Usage`
(df(args, usage=...)), and tell which images their containers use through `in_use`.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from capsa.cli._images import Parser, open_store
from capsa.errors import InvalidArgument
from capsa.humanize import human_size

if TYPE_CHECKING:
    from capsa.cli.gotemplate import Struct
    from capsa.store.store import Store

DF_TABLE = "table {{.Type}}\t{{.TotalCount}}\t{{.Active}}\t{{.Size}}\t{{.Reclaimable}}"
DF_HEADERS = {
    "Type": "TYPE",
    "TotalCount": "TOTAL",
    "Active": "ACTIVE",
    "Size": "SIZE",
    "Reclaimable": "RECLAIMABLE",
}
IMAGES_TABLE = (
    "table {{.Repository}}\t{{.Tag}}\t{{.ID}}\t{{.CreatedSince}}\t{{.Size}}\t{{.SharedSize}}"
    "\t{{.UniqueSize}}\t{{.Containers}}"
)
IMAGES_HEADERS = {"ID": "IMAGE ID", "CreatedSince": "CREATED"}


@dataclass(frozen=True)
class UsageRow:
    """One line of `system df`: a kind of thing, how many, how many in use, their size
    and what removing the unused ones would free (bytes)."""

    type: str
    total: int
    active: int
    size: int
    reclaimable: int

    def template_data(self) -> Struct:
        from capsa.cli.gotemplate import Struct

        reclaimable = human_size(self.reclaimable, precision=4)
        if self.size > 0:
            reclaimable += f" ({self.reclaimable * 100 // self.size}%)"
        row = Struct(
            {
                "Active": str(self.active),
                "Reclaimable": reclaimable,
                "Size": human_size(self.size, precision=4),
                "TotalCount": str(self.total),
                "Type": self.type,
            }
        )
        row.type_name = "diskUsage"
        return row


@dataclass(frozen=True)
class VerboseSection:
    """A part of `system df -v`: `Containers space usage:` and its rows (template data),
    printed through `table` with `headers`; `key` names it in `--format json`."""

    title: str
    key: str
    table: str
    rows: Sequence[Struct]
    headers: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Usage:
    rows: Sequence[UsageRow] = ()
    sections: Sequence[VerboseSection] = ()


UsageOf = Callable[["Store"], Usage]
ContainerCounts = Callable[["Store"], Mapping[str, int]]


def _engine_usage(store: Store) -> Usage:
    from capsa.cli.engine_usage import engine_usage

    return engine_usage(store)


def _container_counts(store: Store) -> Mapping[str, int]:
    from capsa.cli.engine_usage import container_counts

    return container_counts(store)


def images_section(store: Store, counts: Mapping[str, int]) -> tuple[UsageRow, VerboseSection]:
    """The Images row and the `Images space usage:` section."""
    from capsa.cli._images import short_id
    from capsa.cli.gotemplate import Struct
    from capsa.cli.image_list import list_rows, since_seconds
    from capsa.store.images import images_usage

    usage = images_usage(store, counts)
    by_id = {image.record.id: image for image in usage.images}
    rows: list[Struct] = []
    for row in list_rows(store):
        image = by_id[row.record.id]
        repository, tag = row.repository_tag
        data = Struct(
            {
                "Repository": repository,
                "Tag": tag,
                "ID": short_id(row.record.id),
                "CreatedSince": since_seconds(row.details.created),
                "Size": human_size(image.size),
                "SharedSize": human_size(image.shared_size),
                "UniqueSize": human_size(image.unique_size),
                "Containers": str(image.containers),
            }
        )
        data.type_name = "image"
        rows.append(data)
    summary = UsageRow("Images", usage.total, usage.active, usage.size, usage.reclaimable)
    return summary, VerboseSection(
        "Images space usage:", "Images", IMAGES_TABLE, rows, IMAGES_HEADERS
    )


def df(
    args: list[str], usage: UsageOf = _engine_usage, counts: ContainerCounts = _container_counts
) -> int:
    from capsa.cli.formatter import JSON, render
    from capsa.cli.gotemplate import Template, to_json

    parser = Parser("system df", "Show the disk space images take")
    parser.add_argument("-v", "--verbose", action="store_true", help="show each image")
    parser.add_argument("--format", help="table, json, or a Go template ('{{.Size}}')")
    options = parser.parse_args(args)
    store = open_store(options.root)
    try:
        images_row, images_part = images_section(store, counts(store))
        extra = usage(store)
    finally:
        store.close()
    rows = [images_row, *extra.rows]
    sections = [images_part, *extra.sections]
    if not options.verbose:
        data = [row.template_data() for row in rows]
        sys.stdout.write(render(options.format, data, default=DF_TABLE, headers=DF_HEADERS))
        return 0
    if options.format and not options.format.startswith("table"):
        document = {section.key: list(section.rows) for section in sections}
        if options.format == JSON:
            sys.stdout.write(to_json(document) + "\n")
        else:
            text = options.format.replace("\\t", "\t").replace("\\n", "\n")
            sys.stdout.write(Template.parse(text).execute(document) + "\n")
        return 0
    if options.format:
        raise InvalidArgument(
            "system df -v prints its own tables", hint="use --format json or a template"
        )
    parts = [
        f"{section.title}\n\n"
        + render(None, section.rows, default=section.table, headers=section.headers)
        for section in sections
    ]
    sys.stdout.write("\n".join(parts))
    return 0


def prune(args: list[str]) -> int:
    """`system prune`: stopped containers, unused networks, dangling images (every unused
    one with -a), and with --volumes unused anonymous volumes, as Docker's."""
    from capsa.cli import container_cmds, image_cmds, network_cmds, volume_cmds

    parser = Parser("system prune", "Remove unused containers, networks, images")
    parser.add_argument("-a", "--all", action="store_true", help="every unused image")
    parser.add_argument("-f", "--force", action="store_true", help="do not ask")
    parser.add_argument("--volumes", action="store_true", help="unused anonymous volumes too")
    parser.add_argument("--filter", action="append", default=[], help="until=, label=")
    options = parser.parse_args(args)
    if not options.force:
        what = ["all stopped containers", "all networks not used by at least one container"]
        if options.volumes:
            what.append("all anonymous volumes not used by at least one container")
        what.append("all images without at least one container associated to them"
                    if options.all else "all dangling images")  # fmt: skip
        what.append("all build cache" if options.all else "unused build cache")
        sys.stdout.write(
            "WARNING! This will remove:\n"
            + "".join(f"  - {item}\n" for item in what)
            + "\nAre you sure you want to continue? [y/N] "
        )
        sys.stdout.flush()
        if sys.stdin.readline().strip().lower() not in ("y", "yes"):
            return 0
    common = ["-f"] + (["--root", options.root] if options.root else [])
    filters = [f"--filter={item}" for item in options.filter]
    code = container_cmds.container_prune([*common, *filters])
    code |= network_cmds.prune(common)
    if options.volumes:
        code |= volume_cmds.prune(common)
    code |= image_cmds.prune([*common, *filters, *(["-a"] if options.all else [])])
    from capsa.cli import builder

    code |= builder.prune([*common, *(["-a"] if options.all else [])])
    return code


RESET_REMOVES = (
    "all containers",
    "all images",
    "all networks",
    "all build cache",
    "all volumes",
)


def reset_warning(root: str, run_root: str) -> str:
    items = [
        *RESET_REMOVES,
        f'the root directory: "{root}"',
        f'the run root directory: "{run_root}"',
    ]
    return "WARNING! This will remove:\n" + "".join(f"        - {item}\n" for item in items)


def _prune_build_cache(store: Store) -> None:
    from capsa.build.usage import prune_cache

    prune_cache(store, everything=True)


def reset(args: list[str]) -> int:
    """`system reset [-f]`: as `podman system reset`: every container, image, network,
    volume and the build cache removed, the command server stopped, the root emptied."""
    from capsa.cli import server
    from capsa.cli.image_cmds import confirm
    from capsa.engine.layout import engine_config
    from capsa.engine.reset import check_resettable
    from capsa.engine.reset import reset as reset_root

    parser = Parser("system reset", "Remove everything capsa keeps, back to a fresh install")
    parser.add_argument("-f", "--force", action="store_true", help="do not ask")
    options = parser.parse_args(args)
    config = engine_config(options.root)
    check_resettable(config)
    if not options.force and not confirm(
        reset_warning(str(config.root), str(config.run_root)).rstrip("\n")
    ):
        return 0
    failures = []
    try:
        server.stop(str(config.run_root))
    except OSError as error:
        failures.append(f"cannot stop the command server: {error}")
    failures += reset_root(config, store_steps=[("remove the build cache", _prune_build_cache)])
    for line in failures:
        sys.stderr.write(f"capsa system reset: {line}\n")
    return 125 if failures else 0


def events(args: list[str]) -> int:
    """`capsa system events`: Docker's name for `capsa events`."""
    from capsa.cli.container_monitoring import events as show_events

    return show_events(args)


SYSTEM_COMMANDS: dict[str, Callable[[list[str]], int]] = {
    "df": df,
    "events": events,
    "prune": prune,
    "reset": reset,
}


def run(args: list[str]) -> int:
    if not args or args[0] in ("-h", "--help"):
        sys.stdout.write(
            "usage: capsa system COMMAND [ARGS...]\n\nCommands: "
            + ", ".join(SYSTEM_COMMANDS)
            + "\n"
        )
        return 0 if args else 125
    command = SYSTEM_COMMANDS.get(args[0])
    if command is None:
        raise InvalidArgument(
            f"unknown command 'system {args[0]}'",
            hint=f"use one of {', '.join(SYSTEM_COMMANDS)}",
        )
    return command(args[1:])
