"""capsa-runtime: the command line runc and crun share.

Parsing is hand-written, not argparse: the whole runtime must start, create and run a
container in less time than runc, and argparse alone (with `re`) costs milliseconds.
Flags follow urfave/cli as runc uses it: global flags before the command, the command's
flags before its arguments, `-flag`, `--flag`, `--flag=value` all accepted.
"""

from __future__ import annotations

import gc
import os
import sys

from capsa import OCI_RUNTIME_SPEC_VERSION, __version__
from capsa.errors import CapsaError, InvalidArgument

USAGE = """\
usage: capsa-runtime [global options] command [command options] [arguments...]

An OCI runtime in Python, with runc's command line.

commands:
  create    create a container            start     start a created container
  run       create and start a container  state     output the state of a container
  kill      send a signal to a container  delete    delete a container
  exec      run a process in a container  ps        list a container's processes
  list      list containers               pause     suspend all processes
  resume    resume suspended processes    update    change resource limits
  spec      write a new config.json       features  show what this runtime supports
  events    resource usage (--stats: once)

global options:
  --root DIR                 state directory (default /run/capsa-runtime)
  --log FILE                 write log lines to FILE
  --log-format text|json     format of log lines (default text)
  --debug                    log more, and show tracebacks
  --cgroup-manager cgroupfs  cgroup manager (systemd is not available)
  --systemd-cgroup           use systemd for cgroups (not available)
  --rootless auto|true|false
  -v, --version              print the version
"""

# flag name -> (canonical name, takes a value)
Flags = dict[str, tuple[str, bool]]

GLOBAL_FLAGS: Flags = {
    "root": ("root", True),
    "log": ("log", True),
    "log-format": ("log_format", True),
    "debug": ("debug", False),
    "cgroup-manager": ("cgroup_manager", True),
    "systemd-cgroup": ("systemd_cgroup", False),
    "rootless": ("rootless", True),
    "criu": ("criu", True),
    "version": ("version", False),
    "v": ("version", False),
    "help": ("help", False),
    "h": ("help", False),
}

_CREATE: Flags = {
    "bundle": ("bundle", True),
    "b": ("bundle", True),
    "pid-file": ("pid_file", True),
    "console-socket": ("console_socket", True),
    "preserve-fds": ("preserve_fds", True),
    "no-new-keyring": ("no_new_keyring", False),
    "no-pivot": ("no_pivot", False),
    "no-subreaper": ("no_subreaper", False),
}
_EXEC: Flags = {
    "process": ("process", True),
    "p": ("process", True),
    "tty": ("tty", False),
    "t": ("tty", False),
    "detach": ("detach", False),
    "d": ("detach", False),
    "pid-file": ("pid_file", True),
    "cwd": ("cwd", True),
    "env": ("env", True),
    "e": ("env", True),
    "user": ("user", True),
    "u": ("user", True),
    "additional-gids": ("additional_gids", True),
    "g": ("additional_gids", True),
    "cap": ("cap", True),
    "c": ("cap", True),
    "no-new-privs": ("no_new_privs", False),
    "console-socket": ("console_socket", True),
    "preserve-fds": ("preserve_fds", True),
    "apparmor": ("apparmor", True),
    "process-label": ("process_label", True),
    "ignore-paused": ("ignore_paused", False),
    "cgroup": ("cgroup", True),
}
_UPDATE: Flags = {
    "resources": ("resources", True),
    "r": ("resources", True),
    "blkio-weight": ("blkio_weight", True),
    "cpu-period": ("cpu_period", True),
    "cpu-quota": ("cpu_quota", True),
    "cpu-rt-period": ("cpu_rt_period", True),
    "cpu-rt-runtime": ("cpu_rt_runtime", True),
    "cpu-share": ("cpu_share", True),
    "cpu-shares": ("cpu_share", True),
    "cpuset-cpus": ("cpuset_cpus", True),
    "cpuset-mems": ("cpuset_mems", True),
    "memory": ("memory", True),
    "memory-reservation": ("memory_reservation", True),
    "memory-swap": ("memory_swap", True),
    "pids-limit": ("pids_limit", True),
    "kernel-memory": ("kernel_memory", True),
    "kernel-memory-tcp": ("kernel_memory_tcp", True),
}
COMMAND_FLAGS: dict[str, Flags] = {
    "create": _CREATE,
    "run": {
        **_CREATE,
        "detach": ("detach", False),
        "d": ("detach", False),
        "keep": ("keep", False),
    },
    "start": {},
    "state": {},
    "kill": {"all": ("all", False), "a": ("all", False)},
    "delete": {"force": ("force", False), "f": ("force", False)},
    "exec": _EXEC,
    "ps": {"format": ("format", True), "f": ("format", True)},
    "list": {
        "format": ("format", True),
        "f": ("format", True),
        "quiet": ("quiet", False),
        "q": ("quiet", False),
    },
    "pause": {},
    "resume": {},
    "update": _UPDATE,
    "spec": {"bundle": ("bundle", True), "b": ("bundle", True), "rootless": ("rootless", False)},
    "features": {},
    "events": {"stats": ("stats", False), "interval": ("interval", True)},
}
REPEATABLE = {"env", "cap", "additional_gids"}


class Parsed:
    def __init__(self) -> None:
        self.options: dict[str, object] = {}
        self.args: list[str] = []

    def text(self, name: str, default: str | None = None) -> str | None:
        value = self.options.get(name, default)
        return None if value is None else str(value)

    def flag(self, name: str) -> bool:
        return bool(self.options.get(name, False))

    def many(self, name: str) -> list[str]:
        value = self.options.get(name, [])
        return list(value) if isinstance(value, list) else [str(value)]


def parse_flags(
    argv: list[str], flags: Flags, where: str, *, stop_at_positional: bool
) -> tuple[Parsed, list[str]]:
    """Parse leading flags; return them and what is left from the first positional on."""
    parsed = Parsed()
    index = 0
    while index < len(argv):
        arg = argv[index]
        if arg == "--":
            index += 1
            break
        if not arg.startswith("-") or arg == "-":
            if stop_at_positional:
                break
            parsed.args.append(arg)
            index += 1
            continue
        name, has_value, value = arg.lstrip("-").partition("=")
        if name not in flags:
            raise InvalidArgument(
                f"{where}: unknown flag {arg.split('=')[0]}", hint="see capsa-runtime --help"
            )
        canonical, takes_value = flags[name]
        if takes_value:
            if not has_value:
                index += 1
                if index >= len(argv):
                    raise InvalidArgument(f"{where}: flag {arg} needs a value")
                value = argv[index]
            if canonical in REPEATABLE:
                existing = parsed.options.setdefault(canonical, [])
                assert isinstance(existing, list)
                existing.append(value)
            else:
                parsed.options[canonical] = value
        else:
            parsed.options[canonical] = value.lower() not in ("false", "0") if has_value else True
        index += 1
    return parsed, argv[index:]


def _one_id(args: list[str], command: str) -> str:
    if len(args) != 1:
        raise InvalidArgument(
            f"{command} needs exactly one container ID, got {len(args)}",
            hint=f"usage: capsa-runtime {command} <container-id>",
        )
    return args[0]


def _int_option(parsed: Parsed, name: str, flag: str) -> int:
    value = parsed.text(name, "0") or "0"
    try:
        return int(value)
    except ValueError:
        raise InvalidArgument(f"invalid --{flag} {value!r}: must be a whole number") from None


class Logger:
    """runc's --log/--log-format: one line per message, text or JSON, appended."""

    def __init__(self, path: str | None, fmt: str, debug: bool) -> None:
        self.path = path
        self.fmt = fmt
        self.debug_enabled = debug

    def write(self, level: str, message: str) -> None:
        if not self.path:
            return
        import time

        now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        if self.fmt == "json":
            from capsa.fastjson import dumps

            line = dumps({"level": level, "msg": message, "time": now})
        else:
            line = f'time="{now}" level={level} msg="{message}"'
        try:
            fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o644)
            try:
                os.write(fd, (line + "\n").encode())
            finally:
                os.close(fd)
        except OSError:
            pass


def entry() -> None:
    """The `capsa-runtime` command: main(), then out without the interpreter's teardown.

    Freeing every module and object at exit costs ~2 ms on each container start, and
    nothing is left to clean up by then: the runtime starts no threads and registers no
    atexit work, its files are closed, and the kernel drops the descriptors. Only the
    standard streams are flushed, as the interpreter would (failing that: status 120, as
    the interpreter's)."""
    code = main()
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    except (OSError, ValueError):
        code = 120
    os._exit(code)


def main(argv: list[str] | None = None) -> int:
    # A short-lived process that makes few cycles: the collector would only cost time.
    gc.disable()
    argv = sys.argv[1:] if argv is None else argv
    logger = Logger(None, "text", False)
    try:
        glob, rest = parse_flags(argv, GLOBAL_FLAGS, "capsa-runtime", stop_at_positional=True)
        log_format = glob.text("log_format", "text") or "text"
        if log_format not in ("text", "json"):
            raise InvalidArgument(f"invalid --log-format {log_format!r}", hint="use text or json")
        logger = Logger(glob.text("log"), log_format, glob.flag("debug"))
        if glob.flag("version"):
            print(
                f"capsa-runtime version {__version__}\nspec: {OCI_RUNTIME_SPEC_VERSION}\n"
                f"python: {sys.version.split()[0]}"
            )
            return 0
        if glob.flag("help") or not rest:
            sys.stdout.write(USAGE)
            return 0 if glob.flag("help") else 1
        manager = glob.text("cgroup_manager", "cgroupfs")
        if glob.flag("systemd_cgroup") or manager == "systemd":
            from capsa.errors import Unavailable

            raise Unavailable(
                "the systemd cgroup manager is not available in capsa-runtime",
                hint="use --cgroup-manager cgroupfs",
            )
        if manager != "cgroupfs":
            raise InvalidArgument(f"unknown --cgroup-manager {manager!r}", hint="use cgroupfs")
        command, command_args = rest[0], rest[1:]
        if command not in COMMAND_FLAGS:
            raise InvalidArgument(f"unknown command {command!r}", hint="see capsa-runtime --help")
        stop = command == "exec"
        parsed, positional = parse_flags(
            command_args, COMMAND_FLAGS[command], command, stop_at_positional=True
        )
        if not stop:
            more, _ = parse_flags(
                positional, COMMAND_FLAGS[command], command, stop_at_positional=False
            )
            parsed.options.update(more.options)
            positional = more.args
        root = glob.text("root") or "/run/capsa-runtime"
        return _dispatch(command, parsed, positional, os.path.abspath(root))
    except CapsaError as exc:
        logger.write("error", str(exc))
        if logger.debug_enabled:
            import traceback

            traceback.print_exc()
        sys.stderr.write(f"capsa-runtime: {exc}\n")
        return 1
    except KeyboardInterrupt:
        return 130
    except OSError as exc:
        if logger.debug_enabled:
            raise
        where = f": {exc.filename}" if exc.filename else ""
        message = f"{exc.strerror or exc}{where}"
        logger.write("error", message)
        sys.stderr.write(f"capsa-runtime: {message}\n")
        return 1


def _dispatch(command: str, parsed: Parsed, args: list[str], root: str) -> int:
    from capsa.runtime.state import StateStore

    store = StateStore(root)
    if command in ("create", "run"):
        from capsa.runtime.create import CreateOptions

        options = CreateOptions(
            bundle=parsed.text("bundle", ".") or ".",
            pid_file=parsed.text("pid_file"),
            console_socket=parsed.text("console_socket"),
            preserve_fds=_int_option(parsed, "preserve_fds", "preserve-fds"),
            no_new_keyring=parsed.flag("no_new_keyring"),
            no_pivot=parsed.flag("no_pivot"),
        )
        container_id = _one_id(args, command)
        # We exit once the container is made (or run), leaving its init to whoever
        # would have had it anyway; until then it may be our child, which spares the
        # intermediate process (see capsa.runtime.process.spawn).
        from capsa.kernel.process import set_child_subreaper

        set_child_subreaper()
        if command == "create":
            from capsa.runtime.create import create_container

            create_container(store, container_id, options)
            return 0
        from capsa.runtime.run import run_container

        return run_container(store, container_id, options, detach=parsed.flag("detach"))
    if command == "start":
        from capsa.runtime.start import start_container

        start_container(store, _one_id(args, command))
        return 0
    if command == "state":
        from capsa.fastjson import dumps
        from capsa.runtime.query import container_state

        print(dumps(container_state(store, _one_id(args, command)), indent=2))
        return 0
    if command == "kill":
        from capsa.runtime.kill import kill_container, parse_signal

        if not 1 <= len(args) <= 2:
            raise InvalidArgument("usage: capsa-runtime kill [--all] <container-id> [signal]")
        sig = parse_signal(args[1] if len(args) == 2 else "SIGTERM")
        kill_container(store, args[0], sig, all_processes=parsed.flag("all"))
        return 0
    if command == "delete":
        from capsa.runtime.delete import delete_container

        delete_container(store, _one_id(args, command), force=parsed.flag("force"))
        return 0
    if command == "exec":
        return _exec(store, parsed, args)
    if command == "ps":
        return _ps(store, parsed, args)
    if command == "list":
        return _list(store, parsed)
    if command in ("pause", "resume"):
        from capsa.runtime.pause import pause_container, resume_container

        (pause_container if command == "pause" else resume_container)(store, _one_id(args, command))
        return 0
    if command == "update":
        return _update(store, parsed, args)
    if command == "spec":
        return _spec(parsed)
    if command == "features":
        from capsa.fastjson import dumps
        from capsa.runtime.features import features

        print(dumps(features(), indent=2))
        return 0
    if command == "events":
        return _events(store, parsed, args)
    raise InvalidArgument(f"unknown command {command!r}")


def _events(store: object, parsed: Parsed, args: list[str]) -> int:
    from capsa.fastjson import dumps
    from capsa.runtime.events import stats_event, stream
    from capsa.runtime.state import StateStore

    assert isinstance(store, StateStore)
    container_id = _one_id(args, "events")
    if parsed.flag("stats"):
        print(dumps(stats_event(store, container_id)))
        return 0
    text = parsed.text("interval", "5s") or "5s"
    try:
        interval = float(text[:-1] if text.endswith("s") else text)
    except ValueError:
        raise InvalidArgument(f"invalid --interval {text!r}", hint="use seconds, like 5s") from None

    def emit(event: dict[str, object]) -> None:
        print(dumps(event), flush=True)

    stream(store, container_id, interval, emit)
    return 0


def _exec(store: object, parsed: Parsed, args: list[str]) -> int:
    from capsa.runtime.exec import ExecOptions, exec_in_container
    from capsa.runtime.state import StateStore

    assert isinstance(store, StateStore)
    if not args:
        raise InvalidArgument("exec needs a container ID", hint="capsa-runtime exec <id> <command>")
    gids = []
    for text in parsed.many("additional_gids"):
        for part in text.split(","):
            try:
                gids.append(int(part))
            except ValueError:
                raise InvalidArgument(f"invalid --additional-gids {text!r}") from None
    options = ExecOptions(
        process_file=parsed.text("process"),
        args=args[1:],
        tty=parsed.flag("tty"),
        detach=parsed.flag("detach"),
        pid_file=parsed.text("pid_file"),
        cwd=parsed.text("cwd"),
        env=parsed.many("env"),
        user=parsed.text("user"),
        additional_gids=gids,
        caps=parsed.many("cap"),
        no_new_privs=parsed.flag("no_new_privs"),
        console_socket=parsed.text("console_socket"),
        preserve_fds=_int_option(parsed, "preserve_fds", "preserve-fds"),
        apparmor=parsed.text("apparmor"),
        process_label=parsed.text("process_label"),
    )
    return exec_in_container(store, args[0], options)


def _ps(store: object, parsed: Parsed, args: list[str]) -> int:
    from capsa.runtime.query import container_pids
    from capsa.runtime.state import StateStore

    assert isinstance(store, StateStore)
    if not args:
        raise InvalidArgument("ps needs a container ID")
    pids = container_pids(store, args[0])
    fmt = parsed.text("format", "table")
    if fmt == "json":
        from capsa.fastjson import dumps

        print(dumps(pids))
        return 0
    if fmt != "table":
        raise InvalidArgument(f"invalid --format {fmt!r}", hint="use table or json")
    import subprocess

    ps_args = args[1:] or ["-ef"]
    output = subprocess.run(["ps", *ps_args], capture_output=True, text=True, check=True).stdout
    lines = output.splitlines()
    if not lines:
        return 0
    header = lines[0]
    columns = header.split()
    if "PID" not in columns:
        raise InvalidArgument("ps output has no PID column", hint="include pid in the ps options")
    column = columns.index("PID")
    print(header)
    wanted = set(pids)
    for line in lines[1:]:
        fields = line.split()
        if len(fields) > column and fields[column].isdigit() and int(fields[column]) in wanted:
            print(line)
    return 0


def _list(store: object, parsed: Parsed) -> int:
    from capsa.runtime.query import list_containers
    from capsa.runtime.state import StateStore

    assert isinstance(store, StateStore)
    containers = list_containers(store)
    if parsed.flag("quiet"):
        for item in containers:
            print(item["id"])
        return 0
    fmt = parsed.text("format", "table")
    if fmt == "json":
        from capsa.fastjson import dumps

        print(dumps(containers))
        return 0
    if fmt != "table":
        raise InvalidArgument(f"invalid --format {fmt!r}", hint="use table or json")
    rows = [["ID", "PID", "STATUS", "BUNDLE", "CREATED", "OWNER"]]
    for item in containers:
        rows.append(
            [
                str(item["id"]),
                str(item["pid"]),
                str(item["status"]),
                str(item["bundle"]),
                str(item["created"]),
                str(item["owner"]),
            ]
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        print(
            "   ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        )
    return 0


def _update(store: object, parsed: Parsed, args: list[str]) -> int:
    from capsa.runtime.state import StateStore
    from capsa.runtime.update import parse_bytes, read_resources, update_container

    assert isinstance(store, StateStore)
    container_id = _one_id(args, "update")
    source = parsed.text("resources")
    resources: dict[str, object] = {}
    if source:
        text = sys.stdin.read() if source == "-" else _read_text(source)
        resources = dict(read_resources(text, "standard input" if source == "-" else source))

    def number(name: str, flag: str) -> int | None:
        value = parsed.text(name)
        if value is None:
            return None
        try:
            return int(value)
        except ValueError:
            raise InvalidArgument(f"invalid --{flag} {value!r}: must be a whole number") from None

    memory: dict[str, object] = {}
    for name, flag, key in (
        ("memory", "memory", "limit"),
        ("memory_reservation", "memory-reservation", "reservation"),
        ("memory_swap", "memory-swap", "swap"),
        ("kernel_memory", "kernel-memory", "kernel"),
        ("kernel_memory_tcp", "kernel-memory-tcp", "kernelTCP"),
    ):
        value = parsed.text(name)
        if value is not None:
            memory[key] = parse_bytes(value, f"--{flag}")
    cpu: dict[str, object] = {}
    for name, flag, key in (
        ("cpu_share", "cpu-share", "shares"),
        ("cpu_quota", "cpu-quota", "quota"),
        ("cpu_period", "cpu-period", "period"),
        ("cpu_rt_period", "cpu-rt-period", "realtimePeriod"),
        ("cpu_rt_runtime", "cpu-rt-runtime", "realtimeRuntime"),
    ):
        value_int = number(name, flag)
        if value_int is not None:
            cpu[key] = value_int
    for name, key in (("cpuset_cpus", "cpus"), ("cpuset_mems", "mems")):
        text_value = parsed.text(name)
        if text_value is not None:
            cpu[key] = text_value
    if memory:
        resources["memory"] = {**dict(resources.get("memory", {}) or {}), **memory}  # type: ignore[call-overload]
    if cpu:
        resources["cpu"] = {**dict(resources.get("cpu", {}) or {}), **cpu}  # type: ignore[call-overload]
    pids = number("pids_limit", "pids-limit")
    if pids is not None:
        resources["pids"] = {"limit": pids}
    weight = number("blkio_weight", "blkio-weight")
    if weight is not None:
        resources["blockIO"] = {"weight": weight}
    if not resources:
        raise InvalidArgument("update needs --resources FILE or at least one limit flag")
    update_container(store, container_id, resources)
    return 0


def _read_text(path: str) -> str:
    try:
        with open(path) as f:
            return f.read()
    except OSError as exc:
        raise InvalidArgument(f"cannot read {path}: {exc.strerror}") from None


def _spec(parsed: Parsed) -> int:
    from capsa.fastjson import dumps
    from capsa.runtime.default_spec import default_spec

    directory = parsed.text("bundle", ".") or "."
    path = os.path.join(directory, "config.json")
    if os.path.exists(path):
        from capsa.errors import AlreadyExists

        raise AlreadyExists(f"{path} already exists", hint="remove it first")
    spec = default_spec(rootless=parsed.flag("rootless"))
    try:
        with open(path, "x") as f:
            f.write(dumps(spec, indent=2) + "\n")
    except OSError as exc:
        raise InvalidArgument(f"cannot write {path}: {exc.strerror}") from None
    return 0


if __name__ == "__main__":
    entry()
