"""`capsa network create|ls|inspect|rm|prune|connect|disconnect`: parse, call
capsa.network, print as Docker prints. The host side runs in the namespace the command
runs in."""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

from capsa.cli._images import Parser
from capsa.cli.formatter import render, render_documents
from capsa.errors import InvalidArgument, NotFound

if TYPE_CHECKING:
    from capsa.network.model import Network
    from capsa.network.networks import Networks

RUN_ROOT_ENV = "CAPSA_RUNROOT"  # as capsa.engine.layout reads it
HEADERS = {
    "ID": "NETWORK ID",
    "Name": "NAME",
    "Driver": "DRIVER",
    "Scope": "SCOPE",
    "IPv6": "IPV6",
    "Internal": "INTERNAL",
    "Labels": "LABELS",
    "CreatedAt": "CREATED AT",
}


def _parser(prog: str, description: str) -> Parser:
    parser = Parser(f"network {prog}", description)
    parser.add_argument(
        "--runroot", help=f"the run-time state directory (default ${RUN_ROOT_ENV} or the system's)"
    )
    return parser


@contextlib.contextmanager
def _engine(root: str | None, run_root: str | None) -> Iterator[Any]:
    from capsa.engine.engine import Engine
    from capsa.engine.layout import engine_config

    engine = Engine(engine_config(root, run_root))
    try:
        yield engine
    finally:
        engine.close()


@contextlib.contextmanager
def _networks(root: str | None, run_root: str | None) -> Iterator[Networks]:
    from capsa.engine.layout import engine_config
    from capsa.network.networks import Networks

    networks = Networks(engine_config(root, run_root))
    try:
        yield networks
    finally:
        networks.close()


def _pairs(values: list[str], what: str) -> dict[str, str]:
    result = {}
    for value in values:
        key, sep, rest = value.partition("=")
        if not key:
            raise InvalidArgument(f"invalid {what} {value!r}", hint="use KEY=VALUE")
        result[key] = rest if sep else ""
    return result


# -- create, rm, prune ---------------------------------------------------------------------


def create(args: list[str]) -> int:
    parser = _parser("create", "Create a network")
    parser.add_argument("name", metavar="NETWORK")
    parser.add_argument("-d", "--driver", default="bridge", help="the driver (bridge)")
    parser.add_argument("--subnet", help="the IPv4 subnet in CIDR, e.g. 10.89.1.0/24")
    parser.add_argument("--gateway", help="the gateway address (default: the first)")
    parser.add_argument("--ip-range", help="hand out addresses from this sub-range only")
    parser.add_argument("--internal", action="store_true", help="no way out of the network")
    parser.add_argument("--label", action="append", default=[], help="KEY=VALUE metadata")
    parser.add_argument("-o", "--opt", action="append", default=[], help="KEY=VALUE options")
    parser.add_argument("--ipv6", action="store_true", help="(not supported)")
    options = parser.parse_args(args)
    if options.ipv6:
        raise InvalidArgument("IPv6 networks are not supported", hint="leave out --ipv6")
    with _networks(options.root, options.runroot) as networks:
        network = networks.create(
            options.name,
            driver=options.driver,
            subnet=options.subnet,
            gateway=options.gateway,
            ip_range=options.ip_range,
            internal=options.internal,
            labels=_pairs(options.label, "label"),
            options=_pairs(options.opt, "option"),
        )
    sys.stdout.write(network.id + "\n")
    return 0


def remove(args: list[str]) -> int:
    parser = _parser("rm", "Remove networks")
    parser.add_argument("names", nargs="+", metavar="NETWORK")
    parser.add_argument("-f", "--force", action="store_true", help="no error if missing")
    options = parser.parse_args(args)
    failed: Exception | None = None
    with _networks(options.root, options.runroot) as networks:
        for name in options.names:
            try:
                networks.remove(name)
            except NotFound as error:
                if not options.force:
                    failed = failed or error
                    sys.stderr.write(f"capsa network rm: {error}\n")
                continue
            except Exception as error:
                failed = failed or error
                sys.stderr.write(f"capsa network rm: {error}\n")
                continue
            sys.stdout.write(name + "\n")
    if failed is not None:
        return getattr(failed, "exit_code", 125) if len(options.names) == 1 else 1
    return 0


def prune(args: list[str]) -> int:
    parser = _parser("prune", "Remove networks no container uses")
    parser.add_argument("-f", "--force", action="store_true", help="do not ask")
    parser.add_argument("--filter", action="append", default=[], help="label=KEY[=VALUE]")
    options = parser.parse_args(args)
    labels = []
    for item in options.filter:
        key, _, value = item.partition("=")
        if key not in ("label", "label!"):
            raise InvalidArgument(f"invalid prune filter {item!r}", hint="label=KEY[=VALUE]")
        labels.append(
            value
            if key == "label"
            else value.replace("=", "!=", 1)
            if "=" in value
            else value + "!="
        )
    if not options.force:
        sys.stdout.write(
            "WARNING! This will remove all custom networks not used by at least one "
            "container.\nAre you sure you want to continue? [y/N] "
        )
        sys.stdout.flush()
        if sys.stdin.readline().strip().lower() not in ("y", "yes"):
            return 0
    with _networks(options.root, options.runroot) as networks:
        removed = networks.prune(labels)
    if removed:
        sys.stdout.write("Deleted Networks:\n" + "".join(f"{n}\n" for n in removed))
    return 0


# -- ls, inspect -----------------------------------------------------------------------


def _filter(network: Network, used: set[str], key: str, value: str) -> bool:
    if key == "name":
        return value in network.name
    if key == "id":
        return network.id.startswith(value)
    if key == "driver":
        return network.driver == value
    if key == "scope":
        return value == "local"
    if key == "type":
        if value not in ("custom", "builtin"):
            raise InvalidArgument(f"invalid filter type={value}", hint="custom or builtin")
        return (value == "builtin") == network.is_default
    if key == "label":
        name, sep, wanted = value.partition("=")
        return name in network.labels and (not sep or network.labels[name] == wanted)
    if key == "dangling":
        dangling = network.id not in used and not network.is_default
        return dangling == (value.lower() in ("true", "1"))
    raise InvalidArgument(
        f"invalid filter {key!r}", hint="driver, id, label, name, scope, type or dangling"
    )


def ls(args: list[str]) -> int:
    from capsa.network.documents import summary

    parser = _parser("ls", "List networks")
    parser.add_argument("-q", "--quiet", action="store_true", help="only network IDs")
    parser.add_argument("-f", "--filter", action="append", default=[], help="KEY=VALUE")
    parser.add_argument("--format", default="table", help="table, json or a template")
    parser.add_argument("--no-trunc", action="store_true", help="do not truncate IDs")
    options = parser.parse_args(args)
    filters = []
    for item in options.filter:
        key, sep, value = item.partition("=")
        if not sep:
            raise InvalidArgument(f"invalid filter {item!r}", hint="use KEY=VALUE")
        filters.append((key, value))
    with _networks(options.root, options.runroot) as networks:
        items = networks.list_networks()
        used = {e.network_id for e in networks.state.endpoints()}
    # Docker ANDs different keys and ORs values of one key.
    keys = {k for k, _ in filters}
    shown = [
        n
        for n in items
        if all(any(_filter(n, used, k, v) for kk, v in filters if kk == k) for k in keys)
    ]
    rows = []
    for network in shown:
        row = summary(network)
        if options.no_trunc:
            row["ID"] = network.id
        rows.append(row)
    if options.quiet:
        sys.stdout.write("".join(f"{r['ID']}\n" for r in rows))
        return 0
    default = "table {{.ID}}\t{{.Name}}\t{{.Driver}}\t{{.Scope}}"
    sys.stdout.write(render(options.format or None, rows, default=default, headers=HEADERS))
    return 0


def inspect(args: list[str]) -> int:
    parser = _parser("inspect", "Show networks in detail")
    parser.add_argument("names", nargs="+", metavar="NETWORK")
    parser.add_argument("-f", "--format", default="", help="a template, e.g. {{.Id}}")
    options = parser.parse_args(args)
    with _networks(options.root, options.runroot) as networks:
        documents = [networks.inspect(name) for name in options.names]
    sys.stdout.write(render_documents(options.format, documents))
    return 0


# -- connect, disconnect -----------------------------------------------------------------


def connect(args: list[str]) -> int:
    from capsa.network.model import Attachment

    parser = _parser("connect", "Connect a container to a network")
    parser.add_argument("network", metavar="NETWORK")
    parser.add_argument("container", metavar="CONTAINER", help="a container's name or ID")
    parser.add_argument("--alias", action="append", default=[], help="a DNS name there")
    parser.add_argument("--ip", help="a fixed IPv4 address")
    parser.add_argument(
        "--netns", help="low level: a network namespace to join (CONTAINER is then an ID)"
    )
    parser.add_argument("--name", default="", help="with --netns: the name DNS answers")
    options = parser.parse_args(args)
    if options.netns:
        with _networks(options.root, options.runroot) as networks:
            networks.connect(
                options.container,
                options.netns,
                Attachment(options.network, tuple(options.alias), options.ip),
                container_name=options.name,
            )
        return 0
    from capsa.engine import networking

    with _engine(options.root, options.runroot) as engine:
        record = engine.find(options.container)
        with engine.lock(record.id):
            networking.connect(engine, record, options.network, tuple(options.alias), options.ip)
    return 0


def disconnect(args: list[str]) -> int:
    parser = _parser("disconnect", "Disconnect a container from a network")
    parser.add_argument("network", metavar="NETWORK")
    parser.add_argument("container", metavar="CONTAINER", help="a container's name or ID")
    parser.add_argument("-f", "--force", action="store_true", help="(accepted)")
    options = parser.parse_args(args)
    from capsa.engine import networking

    with _engine(options.root, options.runroot) as engine:
        try:
            record = engine.find(options.container)
        except NotFound:
            record = None
        if record is None:  # an endpoint only the network state knows (--netns)
            with _networks(options.root, options.runroot) as networks:
                networks.disconnect(options.container, options.network)
            return 0
        with engine.lock(record.id):
            networking.disconnect(engine, record, options.network)
    return 0


COMMANDS: dict[str, Callable[[list[str]], int]] = {
    "connect": connect,
    "create": create,
    "disconnect": disconnect,
    "inspect": inspect,
    "ls": ls,
    "list": ls,
    "prune": prune,
    "rm": remove,
    "remove": remove,
}


def network(args: list[str]) -> int:
    if not args or args[0] in ("-h", "--help"):
        sys.stdout.write(
            "usage: capsa network COMMAND [ARGS...]\n\nManage networks. Commands: "
            + ", ".join(sorted(COMMANDS))
            + "\n"
        )
        return 0 if args else 125
    command = COMMANDS.get(args[0])
    if command is None:
        raise InvalidArgument(
            f"unknown command 'network {args[0]}'", hint=f"use one of {', '.join(COMMANDS)}"
        )
    return command(args[1:])
