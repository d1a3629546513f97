"""`capsa volume create|ls|inspect|rm|prune`, as Docker prints them."""

from __future__ import annotations

import sys
from collections.abc import Callable

from capsa.cli._images import Parser
from capsa.cli.container_cmds import _each, _print_documents, open_engine, print_rows
from capsa.errors import InvalidArgument, NotFound


def _key_values(items: list[str], flag: str) -> dict[str, str]:
    values = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not key or (not sep and flag == "--opt"):
            raise InvalidArgument(f"invalid {flag} {item!r}", hint="use KEY=VALUE")
        values[key] = value
    return values


def create(args: list[str]) -> int:
    parser = Parser("volume create", "Create a volume")
    parser.add_argument("-d", "--driver", default="local")
    parser.add_argument("--label", action="append", default=[])
    parser.add_argument("-o", "--opt", action="append", default=[])
    parser.add_argument("name", nargs="?", default="")
    options = parser.parse_args(args)
    with open_engine(options.root) as engine:
        volume = engine.volumes.create(
            options.name,
            driver=options.driver,
            labels=_key_values(options.label, "--label"),
            options=_key_values(options.opt, "--opt"),
        )
    sys.stdout.write(f"{volume.record.name}\n")
    return 0


def ls(args: list[str]) -> int:
    parser = Parser("volume ls", "List volumes")
    parser.add_argument("-q", "--quiet", action="store_true")
    parser.add_argument("-f", "--filter", action="append", default=[])
    parser.add_argument("--format", default="")
    options = parser.parse_args(args)
    with open_engine(options.root) as engine:
        volumes = engine.volumes.all()
        users = engine.volumes.users()
    for item in options.filter:
        key, _, value = item.partition("=")
        if key == "dangling":
            if value not in ("true", "false", "1", "0"):
                raise InvalidArgument(f"invalid filter {item!r}", hint="dangling=true or false")
            dangling = value in ("true", "1")
            volumes = [v for v in volumes if (v.record.name not in users) == dangling]
        elif key == "name":
            volumes = [v for v in volumes if value in v.record.name]
        elif key == "driver":
            volumes = [v for v in volumes if v.record.driver == value]
        elif key == "label":
            k, sep, wanted = value.partition("=")
            volumes = [
                v
                for v in volumes
                if k in v.record.labels and (not sep or v.record.labels[k] == wanted)
            ]
        else:
            raise InvalidArgument(
                f"invalid filter {item!r}", hint="dangling, name, driver or label"
            )
    if options.quiet:
        sys.stdout.write("".join(f"{v.record.name}\n" for v in volumes))
        return 0
    rows = [
        {
            "Driver": v.record.driver,
            "Name": v.record.name,
            "Mountpoint": v.mountpoint,
            "Labels": ",".join(f"{k}={x}" for k, x in sorted(v.record.labels.items())),
            "Scope": "local",
        }
        for v in volumes
    ]
    return print_rows(rows, options.format, (("DRIVER", "Driver"), ("VOLUME NAME", "Name")))


def inspect(args: list[str]) -> int:
    parser = Parser("volume inspect", "Show volumes in detail")
    parser.add_argument("-f", "--format", default="")
    parser.add_argument("volumes", nargs="+", metavar="VOLUME")
    options = parser.parse_args(args)
    documents = []
    missing = []
    with open_engine(options.root) as engine:
        for name in options.volumes:
            try:
                documents.append(engine.volumes.get(name).inspect())
            except NotFound:
                missing.append(name)
    return _print_documents(documents, options.format, missing)


def rm(args: list[str]) -> int:
    parser = Parser("volume rm", "Remove volumes")
    parser.add_argument("-f", "--force", action="store_true")
    parser.add_argument("volumes", nargs="+", metavar="VOLUME")
    options = parser.parse_args(args)
    with open_engine(options.root) as engine:
        return _each(options.volumes, lambda n: engine.volumes.remove(n, force=options.force))


def prune(args: list[str]) -> int:
    from capsa.humanize import human_size

    parser = Parser("volume prune", "Remove unused volumes (anonymous ones unless -a)")
    parser.add_argument("-a", "--all", action="store_true")
    parser.add_argument("-f", "--force", action="store_true")
    parser.add_argument("--filter", action="append", default=[])
    options = parser.parse_args(args)
    labels = []
    for item in options.filter:
        key, _, value = item.partition("=")
        if key not in ("label", "label!"):
            raise InvalidArgument(f"invalid filter {item!r}", hint="label=KEY[=VALUE]")
        labels.append(("!" if key == "label!" else "") + value)
    if not options.force and sys.stdin.isatty():
        sys.stdout.write(
            "WARNING! This will remove anonymous local volumes not used by at least one "
            "container.\nAre you sure you want to continue? [y/N] "
        )
        sys.stdout.flush()
        if sys.stdin.readline().strip().lower() not in ("y", "yes"):
            return 0
    with open_engine(options.root) as engine:
        removed, freed = engine.volumes.prune(all_volumes=options.all, labels=labels)
    if removed:
        sys.stdout.write("Deleted Volumes:\n" + "".join(f"{n}\n" for n in removed) + "\n")
    sys.stdout.write(f"Total reclaimed space: {human_size(freed)}\n")
    return 0


SUBCOMMANDS: dict[str, Callable[[list[str]], int]] = {
    "create": create,
    "inspect": inspect,
    "list": ls,
    "ls": ls,
    "prune": prune,
    "remove": rm,
    "rm": rm,
}


def volume(args: list[str]) -> int:
    if not args or args[0] in ("-h", "--help"):
        sys.stdout.write(
            "usage: capsa volume COMMAND\n\ncommands: create, ls, inspect, rm, prune\n"
        )
        return 0 if args else 125
    handler = SUBCOMMANDS.get(args[0])
    if handler is None:
        raise InvalidArgument(f"unknown command 'volume {args[0]}'", hint="see capsa volume --help")
    return handler(args[1:])
