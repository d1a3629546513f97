"""The container commands (`capsa run`, `create`, `start`, `stop`, `restart`, `kill`,
`rm`, `ps`, `logs`, `inspect`, `wait`, `pause`, `unpause`, `rename`, `attach`, `exec`,
`container prune`): parse, call the engine, print as Docker prints. Each takes its
arguments without the command name."""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
from collections.abc import Callable, Iterator
from typing import Any

from capsa.cli._images import Parser
from capsa.errors import CapsaError, Conflict, InvalidArgument, NotFound

ROOT_ENV = "CAPSA_ROOT"


@contextlib.contextmanager
def open_engine(root: str | None) -> Iterator[Any]:
    from capsa.engine.engine import Engine
    from capsa.engine.layout import engine_config

    engine = Engine(engine_config(root))
    try:
        yield engine
    finally:
        engine.close()


def _each(names: list[str], action: Callable[[str], None]) -> int:
    """Docker's way with several names: do each, print it, report failures at the end."""
    failed = 0
    for name in names:
        try:
            action(name)
        except CapsaError as exc:
            sys.stderr.write(f"Error response from daemon: {exc}\n")
            failed = failed or exc.exit_code
            continue
        sys.stdout.write(f"{name}\n")
    return 1 if failed else 0


# -- run, create, start ------------------------------------------------------------------


def run(args: list[str]) -> int:
    """`capsa run`: the spawner's child creates and starts the container (see
    capsa.engine.spawner.request_run), so this process loads only the flags and the
    attach relay, not the engine."""
    from capsa.cli._runflags import run_parser, spec_from_options
    from capsa.engine import spawner
    from capsa.engine.layout import Layout, engine_config

    parser = run_parser("run", "Create and start a container from an image")
    options = parser.parse_args(args)
    spec = spec_from_options(options)
    if options.detach and options.rm and spec.restart.name != "no":
        raise Conflict("--restart and --rm cannot be used together")
    streams = None if options.detach else _streams(spec.stdin_open, options.attach)
    layout = Layout(engine_config(options.root))
    stdin_once = bool(streams and streams["stdin"])
    if options.pull == "always":
        _pull_for_run(options, spec.image)
    connection = spawner.request_run(layout, spec.to_json(), stdin_once=stdin_once)
    try:
        try:
            container_id, name = spawner.read_created(connection)
        except NotFound as exc:
            if not _image_missing(exc) or options.pull not in ("missing", "newer"):
                raise
            connection.close()
            _pull_for_run(options, spec.image)
            connection = spawner.request_run(layout, spec.to_json(), stdin_once=stdin_once)
            container_id, name = spawner.read_created(connection)
        if streams is None:
            spawner.wait_started(connection, name)
            sys.stdout.write(f"{container_id}\n")
            return 0
        from capsa.monitor import attach as protocol

        connection.sendall(protocol.control({"attach": streams}))
        return _relay(
            connection,
            container_id,
            name,
            streams,
            tty=spec.tty,
            detach_keys=options.detach_keys or spec.detach_keys,
            sig_proxy=options.sig_proxy != "false",
            root=options.root,
        )
    finally:
        connection.close()


def _streams(stdin: bool, attach: list[str]) -> dict[str, bool]:
    """The streams `run -a` names (default: all, stdin only with -i)."""
    streams = {"stdin": stdin, "stdout": True, "stderr": True}
    if attach:
        wanted = {s.lower() for s in attach}
        bad = wanted - set(streams)
        if bad:
            raise InvalidArgument(
                f"invalid --attach {sorted(bad)[0]!r}", hint="stdin, stdout or stderr"
            )
        streams = {name: name in wanted for name in streams}
    return streams


def _start_attached(
    engine: Any,
    record: Any,
    streams: dict[str, bool],
    *,
    detach_keys: str = "",
    sig_proxy: bool = True,
) -> int:
    connection = engine.start(record.id, attach=streams)
    try:
        return _relay(
            connection,
            record.id,
            record.name,
            streams,
            tty=record.spec.tty,
            detach_keys=detach_keys or record.spec.detach_keys,
            sig_proxy=sig_proxy,
            root=None,
            engine=engine,
        )
    finally:
        connection.close()


def _relay(
    connection: Any,
    container_id: str,
    name: str,
    streams: dict[str, bool],
    *,
    tty: bool,
    detach_keys: str,
    sig_proxy: bool,
    root: str | None,
    engine: Any = None,
) -> int:
    from capsa.cli._attach import Detached, relay
    from capsa.engine.spawner import start_error
    from capsa.errors import ContainerError

    def forward(signum: int) -> None:
        with contextlib.suppress(CapsaError):
            if engine is not None:
                engine.kill(container_id, signum)
                return
            with open_engine(root) as opened:  # only now: a signal is rare
                opened.kill(container_id, signum)

    try:
        return relay(
            connection,
            stdin=streams["stdin"],
            tty=tty,
            detach_keys=detach_keys,
            on_signal=forward if sig_proxy and not tty else None,
        )
    except Detached:
        sys.stderr.write("\n")
        return 0
    except ContainerError as exc:
        prefix = f"cannot start container {name}: "
        raise start_error(name, str(exc).removeprefix(prefix)) from None


def create(args: list[str]) -> int:
    from capsa.cli._runflags import run_parser, spec_from_options

    parser = run_parser("create", "Create a container from an image, not started")
    options = parser.parse_args(args)
    spec = spec_from_options(options)
    if options.pull == "always":
        _pull_for_run(options, spec.image)
    with open_engine(options.root) as engine:
        try:
            record = engine.create(spec)
        except NotFound as exc:
            if not _image_missing(exc) or options.pull not in ("missing", "newer"):
                raise
            _pull_for_run(options, spec.image)
            record = engine.create(spec)
    sys.stdout.write(f"{record.id}\n")
    return 0


def _image_missing(exc: NotFound) -> bool:
    return exc.message.startswith("no such image")


def _pull_for_run(options: Any, image: str) -> None:
    """Docker's `run`/`create` with an image that is not here: pull it (--pull missing,
    the default; always: every time), its progress on stderr."""
    from capsa.cli.registry_cmds import pull

    if options.pull != "always":
        sys.stderr.write(f"Unable to find image '{image}' locally\n")
    args = [image] + (["--platform", options.platform] if options.platform else [])
    if options.root:
        args = ["--root", options.root, *args]
    try:
        with contextlib.redirect_stdout(sys.stderr):
            pull(args)
    except CapsaError as exc:
        raise NotFound(
            f"no such image: {image}, and pulling it failed: {exc}",
            hint="capsa load or capsa pull it first (capsa image default gives busybox)",
        ) from None


def start(args: list[str]) -> int:
    parser = Parser("start", "Start stopped containers")
    parser.add_argument("-a", "--attach", action="store_true")
    parser.add_argument("-i", "--interactive", action="store_true")
    parser.add_argument("--detach-keys", default="")
    parser.add_argument("containers", nargs="+", metavar="CONTAINER")
    options = parser.parse_args(args)
    with open_engine(options.root) as engine:
        if options.attach or options.interactive:
            if len(options.containers) > 1:
                raise InvalidArgument("you cannot start and attach several containers at once")
            record = engine.find(options.containers[0])
            streams = {"stdin": options.interactive, "stdout": True, "stderr": True}
            return _start_attached(engine, record, streams, detach_keys=options.detach_keys)
        return _each(options.containers, engine.start)


# -- stop, restart, kill, rm -----------------------------------------------------------


def stop(args: list[str]) -> int:
    parser = Parser("stop", "Stop running containers")
    parser.add_argument("-t", "--time", "--timeout", type=int, dest="time")
    parser.add_argument("-s", "--signal", default="")
    parser.add_argument("containers", nargs="+", metavar="CONTAINER")
    options = parser.parse_args(args)
    with open_engine(options.root) as engine:
        return _each(options.containers, lambda name: engine.stop(name, options.time))


def restart(args: list[str]) -> int:
    parser = Parser("restart", "Restart containers")
    parser.add_argument("-t", "--time", "--timeout", type=int, dest="time")
    parser.add_argument("containers", nargs="+", metavar="CONTAINER")
    options = parser.parse_args(args)

    def again(name: str) -> None:
        engine.stop(name, options.time)
        engine.start(name)

    with open_engine(options.root) as engine:
        return _each(options.containers, again)


def kill(args: list[str]) -> int:
    from capsa.runtime.kill import parse_signal

    parser = Parser("kill", "Send a signal to running containers")
    parser.add_argument("-s", "--signal", default="KILL")
    parser.add_argument("containers", nargs="+", metavar="CONTAINER")
    options = parser.parse_args(args)
    signal = parse_signal(options.signal)
    with open_engine(options.root) as engine:
        return _each(options.containers, lambda name: engine.kill(name, signal))


def rm(args: list[str]) -> int:
    parser = Parser("rm", "Remove containers")
    parser.add_argument("-f", "--force", action="store_true")
    parser.add_argument("-v", "--volumes", action="store_true")
    parser.add_argument("containers", nargs="+", metavar="CONTAINER")
    options = parser.parse_args(args)
    with open_engine(options.root) as engine:

        def remove(name: str) -> None:
            engine.remove(name, force=options.force, volumes=options.volumes)

        return _each(options.containers, remove)


def pause(args: list[str]) -> int:
    parser = Parser("pause", "Pause all processes of containers")
    parser.add_argument("containers", nargs="+", metavar="CONTAINER")
    options = parser.parse_args(args)
    with open_engine(options.root) as engine:
        return _each(options.containers, engine.pause)


def unpause(args: list[str]) -> int:
    parser = Parser("unpause", "Unpause all processes of containers")
    parser.add_argument("containers", nargs="+", metavar="CONTAINER")
    options = parser.parse_args(args)
    with open_engine(options.root) as engine:
        return _each(options.containers, engine.unpause)


def rename(args: list[str]) -> int:
    parser = Parser("rename", "Rename a container")
    parser.add_argument("container")
    parser.add_argument("name")
    options = parser.parse_args(args)
    with open_engine(options.root) as engine:
        engine.rename(options.container, options.name)
    return 0


def wait(args: list[str]) -> int:
    parser = Parser("wait", "Block until containers stop, then print their exit codes")
    parser.add_argument("--condition", default="not-running")
    parser.add_argument("containers", nargs="+", metavar="CONTAINER")
    options = parser.parse_args(args)
    failed = False
    with open_engine(options.root) as engine:
        for name in options.containers:
            try:
                code = engine.wait(name, options.condition)
            except CapsaError as exc:
                sys.stderr.write(f"Error response from daemon: {exc}\n")
                failed = True
                continue
            sys.stdout.write(f"{code}\n")
            sys.stdout.flush()
    return 1 if failed else 0


def attach(args: list[str]) -> int:
    from capsa.cli._attach import Detached, relay
    from capsa.monitor import attach as protocol

    parser = Parser("attach", "Attach to a running container's input and output")
    parser.add_argument("--no-stdin", action="store_true")
    parser.add_argument("--detach-keys", default="")
    parser.add_argument("--sig-proxy", default="true")
    parser.add_argument("container")
    options = parser.parse_args(args)
    with open_engine(options.root) as engine:
        record = engine.find(options.container)
        if record.state.status not in ("running", "paused"):
            raise Conflict(
                f"you cannot attach to a stopped container {record.name}",
                hint=f"start it first: capsa start -a {record.name}",
            )
        socket_path = os.path.join(engine.layout.run_dir(record.id), "attach.sock")
        try:
            connection = protocol.connect(socket_path, timeout=5)
        except OSError as exc:
            raise Conflict(
                f"cannot attach to container {record.name}: its monitor does not answer "
                f"({exc.strerror or exc})"
            ) from None
        stdin = record.spec.stdin_open and not options.no_stdin
        connection.sendall(
            protocol.control({"attach": {"stdin": stdin, "stdout": True, "stderr": True}})
        )
        sig_proxy = options.sig_proxy != "false" and not record.spec.tty

        def forward(signum: int) -> None:
            with contextlib.suppress(CapsaError):
                engine.kill(record.id, signum)

        try:
            return relay(
                connection,
                stdin=stdin,
                tty=record.spec.tty,
                detach_keys=options.detach_keys or record.spec.detach_keys,
                on_signal=forward if sig_proxy else None,
            )
        except Detached:
            sys.stderr.write("\n")
            return 0
        finally:
            connection.close()


# -- ps, inspect, logs ------------------------------------------------------------------


PS_COLUMNS = (
    ("CONTAINER ID", "ID"),
    ("IMAGE", "Image"),
    ("COMMAND", "Command"),
    ("CREATED", "RunningFor"),
    ("STATUS", "Status"),
    ("PORTS", "Ports"),
    ("NAMES", "Names"),
)


def ps(args: list[str], prog: str = "ps") -> int:
    from capsa.engine.filters import container_filter
    from capsa.engine.inspect import ps_row

    parser = Parser(prog, "List containers")
    parser.add_argument("-a", "--all", action="store_true")
    parser.add_argument("-q", "--quiet", action="store_true")
    parser.add_argument("-f", "--filter", action="append", default=[])
    parser.add_argument("--format", default="")
    parser.add_argument("--no-trunc", action="store_true")
    parser.add_argument("-n", "--last", type=int, default=-1)
    parser.add_argument("-l", "--latest", action="store_true")
    parser.add_argument("-s", "--size", action="store_true")
    options = parser.parse_args(args)
    with open_engine(options.root) as engine:
        records = engine.containers()
        keep = container_filter(options.filter, engine)
        show_all = options.all or options.last >= 0 or options.latest
        records = [r for r in records if (show_all or r.state.active) and keep(r)]
        if options.latest:
            records = records[:1]
        elif options.last >= 0:
            records = records[: options.last]
        rows = [ps_row(r) for r in records]
        if options.size:
            _add_sizes(engine, records, rows)
    for row in rows:
        if not options.no_trunc:
            row["ID"] = row["ID"][:12]
            if len(row["Command"]) > 20:
                row["Command"] = row["Command"][:19] + "…"
        row["Command"] = json.dumps(row["Command"], ensure_ascii=False)
    if options.quiet:
        sys.stdout.write("".join(f"{row['ID']}\n" for row in rows))
        return 0
    columns = (*PS_COLUMNS, ("SIZE", "Size")) if options.size else PS_COLUMNS
    return print_rows(rows, options.format, columns)


def _add_sizes(engine: Any, records: list[Any], rows: list[dict[str, Any]]) -> None:
    """`ps --size`: the writable layer, and with the image's layers ("virtual")."""
    from capsa.engine.usage import writable_size
    from capsa.humanize import human_size

    image_sizes: dict[str, int] = {}
    for record, row in zip(records, rows, strict=True):
        if record.image_id not in image_sizes:
            try:
                image_sizes[record.image_id] = engine.store.metadata.get_image(record.image_id).size
            except NotFound:
                image_sizes[record.image_id] = 0
        size = writable_size(engine.store, record.id)
        virtual = size + image_sizes[record.image_id]
        row["Size"] = f"{human_size(size)} (virtual {human_size(virtual)})"


def print_rows(
    rows: list[dict[str, Any]], format_text: str, columns: tuple[tuple[str, str], ...]
) -> int:
    """Docker's table of these columns, JSON lines, or a Go template per row."""
    from capsa.cli.formatter import render

    default = "table " + "\t".join(f"{{{{.{key}}}}}" for _, key in columns)
    headers = {key: title for title, key in columns}
    sys.stdout.write(render(format_text or None, rows, default=default, headers=headers))
    return 0


def inspect(args: list[str]) -> int:
    from capsa.engine.inspect import inspect_container

    parser = Parser("inspect", "Show containers (or images) in detail")
    parser.add_argument("-f", "--format", default="")
    parser.add_argument("-s", "--size", action="store_true")
    parser.add_argument("--type", default="")
    parser.add_argument("names", nargs="+", metavar="NAME")
    options = parser.parse_args(args)
    documents: list[dict[str, Any]] = []
    missing: list[str] = []
    with open_engine(options.root) as engine:
        for name in options.names:
            if options.type in ("", "container"):
                try:
                    record = engine.find(name)
                    documents.append(inspect_container(record, engine.layout, engine.store.driver))
                    continue
                except NotFound:
                    if options.type == "container":
                        missing.append(name)
                        continue
            if options.type in ("", "image"):
                try:
                    documents.append(_image_document(engine, name))
                    continue
                except NotFound:
                    pass
            if options.type in ("", "volume"):
                try:
                    documents.append(engine.volumes.get(name).inspect())
                    continue
                except NotFound:
                    pass
            missing.append(name)
    return _print_documents(documents, options.format, missing)


def _image_document(engine: Any, name: str) -> dict[str, Any]:
    from capsa.cli._images import inspect_document
    from capsa.transport.store.find import find_image

    record, _ = find_image(engine.store.metadata, name)
    document: dict[str, Any] = inspect_document(engine.store, record)
    return document


def _print_documents(documents: list[dict[str, Any]], format_text: str, missing: list[str]) -> int:
    from capsa.cli.formatter import render_documents

    sys.stdout.write(render_documents(format_text, documents))
    for name in missing:
        sys.stderr.write(f"Error: No such object: {name}\n")
    return 1 if missing else 0


def port(args: list[str]) -> int:
    """`capsa port CONTAINER [PRIVATE_PORT[/PROTO]]`, as Docker prints it."""
    parser = Parser("port", "List a container's published ports")
    parser.add_argument("container", metavar="CONTAINER")
    parser.add_argument("private", nargs="?", metavar="PRIVATE_PORT[/PROTO]")
    options = parser.parse_args(args)
    with open_engine(options.root) as engine:
        record = engine.find(options.container)
        published: dict[str, Any] = (record.state.network_status or {}).get("Ports") or {}
    lines = []
    if options.private:
        key = options.private if "/" in options.private else f"{options.private}/tcp"
        bindings = published.get(key) or []
        if not bindings:
            raise NotFound(f"no public port {key!r} published for {record.name}")
        lines = [f"{b.get('HostIp') or '0.0.0.0'}:{b.get('HostPort')}" for b in bindings]
    else:
        for key in sorted(published, key=lambda k: (int(k.split("/")[0]), k)):
            for binding in published[key] or []:
                host = f"{binding.get('HostIp') or '0.0.0.0'}:{binding.get('HostPort')}"
                lines.append(f"{key} -> {host}")
    sys.stdout.write("".join(f"{line}\n" for line in lines))
    return 0


def logs(args: list[str]) -> int:
    from capsa.monitor.logfile import read_entries
    from capsa.times import parse_time_arg

    parser = Parser("logs", "Show a container's output")
    parser.add_argument("-f", "--follow", action="store_true")
    parser.add_argument("--since", default="")
    parser.add_argument("--until", default="")
    parser.add_argument("-n", "--tail", default="all")
    parser.add_argument("-t", "--timestamps", action="store_true")
    parser.add_argument("--details", action="store_true")
    parser.add_argument("container")
    options = parser.parse_args(args)
    tail = -1
    if options.tail != "all":
        try:
            tail = int(options.tail)
        except ValueError:
            raise InvalidArgument(
                f"invalid --tail {options.tail!r}", hint="a number or all"
            ) from None
    since = parse_time_arg(options.since, "--since") if options.since else 0
    until = parse_time_arg(options.until, "--until") if options.until else 0
    with open_engine(options.root) as engine:
        record = engine.find(options.container)
        if record.spec.log_driver == "none":
            raise Conflict(
                f"container {record.name} has no log: it runs with --log-driver none",
                hint="run it with the json-file log driver (the default)",
            )
        path = engine.layout.log_path(record.id)

        def running() -> bool:
            try:
                return bool(engine.find(record.id).state.active)
            except NotFound:
                return False

        out = sys.stdout.buffer
        err = sys.stderr.buffer
        for entry in read_entries(
            path,
            since_ns=since,
            until_ns=until,
            tail=tail,
            follow=options.follow,
            running=running,
        ):
            target = err if entry.stream == "stderr" else out
            if options.timestamps:
                target.write(entry.time.encode() + b" ")
            target.write(entry.data)
            if options.follow:
                target.flush()
    return 0


# -- exec --------------------------------------------------------------------------------


def exec_(args: list[str]) -> int:
    from capsa.engine.execs import exec_in

    parser = Parser("exec", "Run a command in a running container", add_help=False)
    parser.add_argument("-d", "--detach", action="store_true")
    parser.add_argument("-i", "--interactive", action="store_true")
    parser.add_argument("-t", "--tty", action="store_true")
    parser.add_argument("-e", "--env", action="append", default=[])
    parser.add_argument("--env-file", action="append", default=[])
    parser.add_argument("-u", "--user", default="")
    parser.add_argument("-w", "--workdir", default="")
    parser.add_argument("--privileged", action="store_true")
    parser.add_argument("--detach-keys", default="")
    parser.add_argument("--help", action="help")
    parser.add_argument("container")
    parser.add_argument("command", nargs=argparse.REMAINDER)
    options = parser.parse_args(args)
    if not options.command:
        raise InvalidArgument("exec needs a command to run", hint="capsa exec CONTAINER COMMAND")
    from capsa.cli._runflags import _read_env_files

    env = _read_env_files(options.env_file, "--env-file") + list(options.env)
    with open_engine(options.root) as engine:
        return int(
            exec_in(
                engine,
                options.container,
                list(options.command),
                env=env,
                user=options.user,
                workdir=options.workdir,
                tty=options.tty and os.isatty(0),
                interactive=options.interactive,
                detach=options.detach,
                privileged=options.privileged,
            )
        )


# -- prune ---------------------------------------------------------------------------------


def container_prune(args: list[str]) -> int:
    from capsa.engine.filters import container_filter
    from capsa.engine.usage import writable_size
    from capsa.humanize import human_size

    parser = Parser("container prune", "Remove all stopped containers")
    parser.add_argument("-f", "--force", action="store_true")
    parser.add_argument("--filter", action="append", default=[])
    options = parser.parse_args(args)
    if not options.force and sys.stdin.isatty():
        sys.stdout.write(
            "WARNING! This will remove all stopped containers.\n"
            "Are you sure you want to continue? [y/N] "
        )
        sys.stdout.flush()
        if sys.stdin.readline().strip().lower() not in ("y", "yes"):
            return 0
    removed = []
    freed = 0
    with open_engine(options.root) as engine:
        keep = container_filter(options.filter, engine, prune=True)
        for record in engine.containers():
            if record.state.active or (
                record.state.status == "created" and record.state.monitor_pid
            ):
                continue
            if not keep(record):
                continue
            with contextlib.suppress(CapsaError, OSError):
                freed += writable_size(engine.store, record.id)  # as system df counts it
            with contextlib.suppress(CapsaError):
                engine.remove(record.id)
                removed.append(record.id)
    if removed:
        sys.stdout.write("Deleted Containers:\n" + "".join(f"{i}\n" for i in removed) + "\n")
    sys.stdout.write(f"Total reclaimed space: {human_size(freed)}\n")
    return 0


def container(args: list[str]) -> int:
    """`capsa container SUBCOMMAND`: the same commands under Docker's management name."""
    from capsa.cli import commit as commit_cmd
    from capsa.cli import container_files as files
    from capsa.cli import container_monitoring as monitoring

    subcommands: dict[str, Callable[[list[str]], int]] = {
        "attach": attach,
        "commit": commit_cmd.run,
        "cp": files.cp,
        "create": create,
        "diff": files.diff,
        "exec": exec_,
        "export": files.export,
        "inspect": inspect,
        "kill": kill,
        "logs": logs,
        "ls": ps,
        "list": ps,
        "ps": ps,
        "pause": pause,
        "port": port,
        "prune": container_prune,
        "rename": rename,
        "restart": restart,
        "rm": rm,
        "run": run,
        "start": start,
        "stats": monitoring.stats,
        "stop": stop,
        "top": monitoring.top,
        "unpause": unpause,
        "wait": wait,
    }
    if not args or args[0] in ("-h", "--help"):
        sys.stdout.write(
            "usage: capsa container COMMAND\n\ncommands: " + ", ".join(sorted(subcommands)) + "\n"
        )
        return 0 if args else 125
    handler = subcommands.get(args[0])
    if handler is None:
        raise InvalidArgument(
            f"unknown command 'container {args[0]}'", hint="see capsa container --help"
        )
    return handler(args[1:])
