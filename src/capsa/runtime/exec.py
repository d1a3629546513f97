"""`exec`: run another process inside a running container, in all its namespaces and
cgroups, with the container's seccomp filter and the capabilities asked for."""

from __future__ import annotations

import os

from capsa.errors import CapsaError, Conflict, ContainerError, InvalidArgument
from capsa.fastjson import JSONError, loads
from capsa.kernel import namespaces as kns
from capsa.kernel import process as kproc
from capsa.oci.runtime_config import validate_process
from capsa.runtime import console as consoles
from capsa.runtime.container import CREATED, RUNNING, Container
from capsa.runtime.process import setup, sync
from capsa.runtime.signals import exit_code, forward_signals, wait_for
from capsa.runtime.state import StateStore, write_atomically

TYPE_CHECKING = False

if TYPE_CHECKING:
    from typing import Any


class ExecOptions:
    """What `exec` was asked for on the command line."""

    def __init__(
        self,
        process_file: str | None = None,
        args: list[str] | None = None,
        tty: bool = False,
        detach: bool = False,
        pid_file: str | None = None,
        cwd: str | None = None,
        env: list[str] | None = None,
        user: str | None = None,
        additional_gids: list[int] | None = None,
        caps: list[str] | None = None,
        no_new_privs: bool = False,
        console_socket: str | None = None,
        preserve_fds: int = 0,
        apparmor: str | None = None,
        process_label: str | None = None,
    ) -> None:
        self.process_file = process_file
        self.args = args or []
        self.tty = tty
        self.detach = detach
        self.pid_file = pid_file
        self.cwd = cwd
        self.env = env or []
        self.user = user
        self.additional_gids = additional_gids or []
        self.caps = caps or []
        self.no_new_privs = no_new_privs
        self.console_socket = console_socket
        self.preserve_fds = preserve_fds
        self.apparmor = apparmor
        self.process_label = process_label


def build_process(config: dict[str, Any], options: ExecOptions) -> dict[str, Any]:
    """The process to exec: from --process, or the container's own process with the
    flags applied (as runc does)."""
    if options.process_file:
        try:
            with open(options.process_file, "rb") as f:
                loaded = loads(f.read())
        except OSError as exc:
            raise InvalidArgument(
                f"cannot read --process {options.process_file}: {exc.strerror}"
            ) from None
        except (JSONError, UnicodeDecodeError) as exc:
            raise InvalidArgument(
                f"--process {options.process_file} is not valid JSON: {exc}"
            ) from None
        validate_process(loaded, "process", require_cwd=False)
        assert isinstance(loaded, dict)
        loaded.setdefault("cwd", "/")
        return loaded
    if not options.args:
        raise InvalidArgument("exec needs a command to run, or --process FILE")
    base = config.get("process", {})
    process: dict[str, Any] = {
        "args": list(options.args),
        "cwd": options.cwd or base.get("cwd", "/"),
        "env": list(base.get("env", [])) + list(options.env),
        "terminal": options.tty,
        "user": dict(base.get("user", {"uid": 0, "gid": 0})),
        "noNewPrivileges": options.no_new_privs or base.get("noNewPrivileges", False),
    }
    if "capabilities" in base:
        process["capabilities"] = {key: list(value) for key, value in base["capabilities"].items()}
    if options.caps:
        caps = process.setdefault("capabilities", {})
        for kind in ("bounding", "effective", "permitted", "inheritable", "ambient"):
            present = caps.setdefault(kind, [])
            present.extend(c for c in options.caps if c not in present)
    if "rlimits" in base:
        process["rlimits"] = base["rlimits"]
    if options.user:
        uid_text, _, gid_text = options.user.partition(":")
        try:
            process["user"]["uid"] = int(uid_text)
            if gid_text:
                process["user"]["gid"] = int(gid_text)
        except ValueError:
            raise InvalidArgument(
                f"invalid --user {options.user!r}", hint="use UID[:GID]"
            ) from None
    if options.additional_gids:
        process["user"]["additionalGids"] = list(options.additional_gids)
    for key, value in (
        ("apparmorProfile", options.apparmor or base.get("apparmorProfile")),
        ("selinuxLabel", options.process_label or base.get("selinuxLabel")),
    ):
        if value:
            process[key] = value
    validate_process(process, "process", require_cwd=True)
    return process


def exec_in_container(store: StateStore, container_id: str, options: ExecOptions) -> int:
    container = Container.load(store, container_id)
    status = container.status()
    if status not in (RUNNING, CREATED):
        raise Conflict(f"cannot exec in container {container_id!r}: it is {status}")
    config = container.config()
    process = build_process(config, options)
    linux = config.get("linux", {})
    seccomp_program: bytes | None = None
    seccomp_flags = 0
    if linux.get("seccomp"):
        from capsa.runtime import seccomp

        compiled = seccomp.compile_seccomp(linux["seccomp"])
        seccomp_program, seccomp_flags = compiled.program, compiled.flags
    terminal = bool(process.get("terminal"))
    proxy = None
    console = None
    if terminal:
        if options.console_socket:
            console = consoles.connect_console_socket(options.console_socket)
        elif options.detach:
            raise InvalidArgument("exec --tty --detach needs --console-socket")
        else:
            from capsa.runtime.tty import TtyProxy

            proxy = TtyProxy()
            console = proxy.theirs
    if not options.detach:
        kproc.set_child_subreaper()
    manager = container.cgroup()
    ns_fds = _namespace_fds(container.state.pid, config)
    parent_end, child_end = sync.channel()
    first = os.fork()
    if first == 0:
        parent_end.close()
        _intermediate(
            child_end,
            ns_fds,
            manager,
            process,
            console,
            seccomp_program,
            seccomp_flags,
            options.preserve_fds,
        )
    child_end.close()
    for _, fd in ns_fds:
        os.close(fd)
    if proxy is not None:
        proxy.after_fork()
    elif console is not None:
        console.close()
    try:
        # Two processes talk here (the intermediate reports the pid, the process itself
        # that it is ready): their messages may come in either order.
        message = sync.receive(parent_end, sync.INIT_PID, sync.READY)
        ready = message.kind == sync.READY
        pid = sync.receive(parent_end, sync.INIT_PID).pid if ready else message.pid
        os.waitpid(first, 0)
        if proxy is not None:
            proxy.receive()
        if not ready:
            sync.receive(parent_end, sync.READY)
        # The socket is close-on-exec: EOF means the exec happened, a message that it failed.
        tail = parent_end.recv(sync.MAX_MESSAGE)
        if tail:
            message = sync.Message.decode(tail)
            raise ContainerError(message.text)
    finally:
        parent_end.close()
    if options.pid_file:
        write_atomically(os.path.abspath(options.pid_file), str(pid).encode(), 0o644)
    if options.detach:
        return 0
    if proxy is not None:
        with forward_signals(pid):
            return exit_code(proxy.relay(pid))
    with forward_signals(pid):
        return exit_code(wait_for(pid))


def _namespace_fds(init_pid: int, config: dict[str, Any]) -> list[tuple[str, int]]:
    """Descriptors of the container's namespaces we are not already in; user first,
    mount last (after it, host paths are out of reach)."""
    kinds = [ns["type"] for ns in config.get("linux", {}).get("namespaces", [])]
    order = sorted(kinds, key=lambda k: (k != "user", k == "mount"))
    fds = []
    for kind in order:
        entry = kns.NAMESPACES[kind][1]
        theirs = f"/proc/{init_pid}/ns/{entry}"
        try:
            if os.stat(theirs).st_ino == os.stat(f"/proc/self/ns/{entry}").st_ino:
                continue
            fds.append((kind, os.open(theirs, os.O_RDONLY | os.O_CLOEXEC)))
        except OSError as exc:
            for _, fd in fds:
                os.close(fd)
            raise Conflict(
                f"cannot enter the container's {kind} namespace: {exc.strerror}"
            ) from None
    return fds


def _intermediate(
    sock: Any,
    ns_fds: list[tuple[str, int]],
    cgroup: Any,
    process: dict[str, Any],
    console: Any,
    seccomp_program: bytes | None,
    seccomp_flags: int,
    preserve_fds: int,
) -> None:
    code = 1
    try:
        kproc.set_dumpable(False)
        # v1 without waiting for the kernel's threadgroup lock (we are single-threaded,
        # see FsManager.enter_v1); v2 the plain way, before the container's cgroup and
        # user namespaces could keep us from reaching the host's cgroupfs.
        cgroup.enter_v1()
        cgroup.add_process(os.getpid(), v1=False)
        for kind, fd in ns_fds:
            kns.setns(fd, kns.NAMESPACES[kind][0])
            os.close(fd)
            if kind == "user":
                os.setresgid(0, 0, 0)
                os.setresuid(0, 0, 0)
        pid = os.fork()
        if pid == 0:
            _final(sock, process, console, seccomp_program, seccomp_flags, preserve_fds)
        sync.send(sock, sync.INIT_PID, pid=pid)
        code = 0
    except BaseException as exc:
        _report(sock, exc)
    os._exit(code)


def _report(sock: Any, exc: BaseException) -> None:
    if isinstance(exc, CapsaError):
        text = str(exc)
    elif isinstance(exc, OSError):
        text = f"{exc.strerror or exc}" + (f" {exc.filename}" if exc.filename else "")
    else:
        import traceback

        text = "".join(traceback.format_exception(exc)).strip()
    try:
        sync.send(sock, sync.ERROR, text=text)
    except OSError:
        pass


def _final(
    sock: Any,
    process: dict[str, Any],
    console: Any,
    seccomp_program: bytes | None,
    seccomp_flags: int,
    preserve_fds: int,
) -> None:
    try:
        kproc.set_dumpable(False)
        os.setsid()
        if process.get("terminal"):
            master, slave, name = consoles.open_pty_in_container()
            size = process.get("consoleSize")
            if size:
                consoles.set_window_size(master, size["height"], size["width"])
            consoles.send_master(console, master, name)
            os.close(master)
            console.close()
            consoles.become_controlling_terminal(slave)
        setup.apply_rlimits(process.get("rlimits", []))
        setup.apply_security_labels(process)
        no_new_privs = bool(process.get("noNewPrivileges"))
        if no_new_privs:
            kproc.set_no_new_privs()
        elif seccomp_program is not None:
            from capsa.runtime import seccomp

            seccomp.load(seccomp.CompiledFilter(seccomp_program, seccomp_flags, 0))
        kproc.close_range_cloexec(3 + preserve_fds)
        capabilities = process.get("capabilities")
        setup.drop_bounding_set(capabilities)
        setup.switch_user(process.get("user", {}), setgroups_allowed=True)
        cwd = process.get("cwd", "/")
        try:
            os.chdir(cwd)
        except OSError as exc:
            raise ContainerError(f"cannot change to cwd {cwd}: {exc.strerror}") from None
        setup.apply_capabilities(capabilities)
        env = setup.environment(process)
        program = setup.find_executable(process["args"][0], env, cwd)
        sync.send(sock, sync.READY)
        if no_new_privs and seccomp_program is not None:
            from capsa.runtime import seccomp

            seccomp.load(seccomp.CompiledFilter(seccomp_program, seccomp_flags, 0))
        setup.exec_program(program, process["args"], env)
    except BaseException as exc:
        _report(sock, exc)
    os._exit(127)
