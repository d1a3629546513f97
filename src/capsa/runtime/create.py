"""`create`: build the container's environment and leave its init waiting for `start`."""

from __future__ import annotations

import os
import pwd
import time

# What every start loads lazily once its init is cloned (limits, devices, the freezer
# check of delete), imported before: after the clone each page written is copied first.
from capsa.cgroups import devices, devices_v1, freezer, resources  # noqa: F401
from capsa.errors import CapsaError, ContainerError
from capsa.oci.runtime_config import validate_container_id
from capsa.runtime import cgroup, namespaces
from capsa.runtime.bundle import Bundle, load_bundle
from capsa.runtime.hooks import run_hooks
from capsa.runtime.process import sync
from capsa.runtime.process.context import InitContext

# What the forked processes run, imported here once: in a long-lived caller (the
# engine), each container start would otherwise import them again after fork.
from capsa.runtime.process.init import run_init  # noqa: F401
from capsa.runtime.process.intermediate import run_intermediate  # noqa: F401
from capsa.runtime.process.spawn import clone_init, direct_flags, fork_intermediate
from capsa.runtime.procinfo import start_time
from capsa.runtime.rootfs import cgroup_mounts, mountinfo  # noqa: F401
from capsa.runtime.state import ContainerState, StateStore, write_atomically

TYPE_CHECKING = False

if TYPE_CHECKING:
    from typing import Any

    from capsa.cgroups import CgroupManager

SIGKILL = 9


class CreateOptions:
    __slots__ = (
        "bundle",
        "console_connection",
        "console_socket",
        "no_new_keyring",
        "no_pivot",
        "pid_file",
        "preserve_fds",
    )

    def __init__(
        self,
        bundle: str = ".",
        pid_file: str | None = None,
        console_socket: str | None = None,
        preserve_fds: int = 0,
        no_new_keyring: bool = False,
        no_pivot: bool = False,
        console_connection: Any = None,
    ) -> None:
        self.bundle = bundle
        self.pid_file = pid_file
        self.console_socket = console_socket
        self.preserve_fds = preserve_fds
        self.no_new_keyring = no_new_keyring
        self.no_pivot = no_pivot
        # An already connected console socket (`run` and `exec` make their own tty).
        self.console_connection = console_connection

    def with_console(self, connection: Any) -> CreateOptions:
        return CreateOptions(
            self.bundle,
            self.pid_file,
            self.console_socket,
            self.preserve_fds,
            self.no_new_keyring,
            self.no_pivot,
            connection,
        )


def create_container(
    store: StateStore, container_id: str, options: CreateOptions
) -> ContainerState:
    validate_container_id(container_id)
    return create_from_bundle(store, container_id, options, load_bundle(options.bundle))


def create_from_bundle(
    store: StateStore, container_id: str, options: CreateOptions, bundle: Bundle
) -> ContainerState:
    """create_container with the bundle loaded already (options.bundle is not read
    again): `run` looks at its config first."""
    validate_container_id(container_id)
    config = bundle.config
    linux = config.get("linux", {})
    plan = namespaces.plan(linux)
    seccomp_program, seccomp_flags = _compile_seccomp(linux)
    if config["process"].get("terminal") and not (
        options.console_socket or options.console_connection
    ):
        raise ContainerError(
            "process.terminal is true but no console socket was given",
            hint="pass --console-socket, or set process.terminal to false",
        )
    directory = store.reserve(container_id)
    manager = None
    init_pid = 0
    intermediate = 0
    try:
        flags = direct_flags(plan)
        # Cloned straight away, the init can start on its mounts while we make its v1
        # cgroups: it joins them when we say they are ready (spawn.py).
        made = cgroup.manager_for(linux, container_id, rootless=os.geteuid() != 0)
        v1_later = flags is not None and cgroup.has_v1(made)
        cgroup.make(made, linux, v1=not v1_later)
        manager = made  # only once made: a failed make leaves any cgroup there alone
        fifo = store.exec_fifo(container_id)
        # Writable by the container's user, who opens it after dropping root (as runc).
        os.mkfifo(fifo, 0o622)
        os.chmod(fifo, 0o622)
        os.chown(fifo, *_container_root(linux))
        fifo_fd = os.open(fifo, os.O_PATH | os.O_CLOEXEC)
        console = options.console_connection
        if console is None and options.console_socket:
            from capsa.runtime.console import connect_console_socket

            console = connect_console_socket(options.console_socket)
        parent_end, child_end = sync.channel()
        ctx = InitContext(
            container_id=container_id,
            config=config,
            bundle=bundle.path,
            rootfs=bundle.rootfs,
            plan=plan,
            sync=child_end,
            fifo_fd=fifo_fd,
            console=console,
            seccomp_program=seccomp_program,
            seccomp_flags=seccomp_flags,
            preserve_fds=options.preserve_fds,
            no_new_keyring=options.no_new_keyring,
            no_pivot=options.no_pivot,
            cgroup=manager,
        )
        if flags is not None:
            init_pid = clone_init(ctx, parent_end, flags, cgroups_later=v1_later)
        if v1_later:
            cgroup.make(manager, linux, unified=False)
            if init_pid:
                sync.send(parent_end, sync.CGROUPS_READY)
        if not init_pid:
            intermediate = fork_intermediate(ctx, parent_end)
        child_end.close()
        os.close(fifo_fd)
        # Limits are written while the child builds the container: it cannot run the
        # user's program before we read its READY, which comes after this.
        cgroup.apply_limits(manager, linux)
        if console is not None and options.console_connection is None:
            console.close()
        # What the state needs and READY does not change, done while the child works.
        owner = _owner()
        store.save_config(container_id, config, bundle.raw)
        started = start_time(init_pid) if init_pid else None
        try:
            init_pid = _converse(
                parent_end, intermediate, init_pid, config, container_id, bundle.path
            )
        finally:
            parent_end.close()
            if intermediate:
                _reap(intermediate)
        state = ContainerState(
            id=container_id,
            bundle=bundle.path,
            rootfs=bundle.rootfs,
            pid=init_pid,
            pid_start_time=started if started is not None else start_time(init_pid),
            created=_now(),
            owner=owner,
            annotations=dict(config.get("annotations", {})),
            cgroup_paths=manager.paths(),
            namespace_paths=_namespace_paths(init_pid, plan),
            rootless=os.geteuid() != 0,
        )
        store.save(state)
        if options.pid_file:
            write_atomically(os.path.abspath(options.pid_file), f"{init_pid}".encode(), 0o644)
        return state
    except BaseException:
        # Cloned straight from us, the init is our child: reap it, nobody else will.
        _undo(init_pid, manager, reap=init_pid != 0 and intermediate == 0)
        store.release(container_id)
        del directory
        raise


def _converse(
    sock: Any,
    intermediate: int,
    init_pid: int,
    config: dict[str, Any],
    container_id: str,
    bundle: str,
) -> int:
    """Answer the container processes until the init says it is ready; returns its pid
    (`init_pid` when known already, else the intermediate reports it).

    The intermediate's INIT_PID and the init's own messages come from two processes, so
    either may come first: the init can be quicker to ask for hooks, or to be ready."""
    while True:
        message = sync.receive(sock)
        if message.kind == sync.NEED_IDMAP:
            namespaces.write_id_maps(intermediate, config.get("linux", {}))
            sync.send(sock, sync.IDMAP_DONE)
        elif message.kind == sync.INIT_PID:
            init_pid = message.pid
        elif message.kind == sync.RUN_HOOKS:
            if not init_pid:
                init_pid = sync.receive(sock, sync.INIT_PID).pid
            hooks = config.get("hooks", {})
            state = {
                "ociVersion": config.get("ociVersion", "1.0.0"),
                "id": container_id,
                "status": "creating",
                "pid": init_pid,
                "bundle": str(bundle),
                "annotations": config.get("annotations", {}),
            }
            run_hooks("prestart", hooks.get("prestart", []), state)
            run_hooks("createRuntime", hooks.get("createRuntime", []), state)
            sync.send(sock, sync.HOOKS_DONE)
        elif message.kind == sync.READY:
            if not init_pid:
                init_pid = sync.receive(sock, sync.INIT_PID).pid
            if not init_pid:
                raise ContainerError("the container init never reported its pid")
            return init_pid


def _now() -> str:
    """RFC 3339 in UTC with nanoseconds, as runc writes `created`."""
    ns = time.time_ns()
    stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ns // 10**9))
    return f"{stamp}.{ns % 10**9:09d}Z"


def _reap(pid: int) -> None:
    try:
        os.waitpid(pid, 0)
    except ChildProcessError:
        pass


def _undo(init_pid: int, manager: CgroupManager | None, *, reap: bool) -> None:
    """Take back whatever a failed create made: processes first, then the cgroup."""
    if init_pid:
        try:
            os.kill(init_pid, SIGKILL)
        except ProcessLookupError:
            pass
        if reap:
            _reap(init_pid)
    if manager is not None:
        try:
            cgroup.remove(manager)
        except (CapsaError, OSError):
            pass


def _compile_seccomp(linux: dict[str, Any]) -> tuple[bytes | None, int]:
    profile = linux.get("seccomp")
    if not profile:
        return None, 0
    from capsa.runtime import seccomp

    compiled = seccomp.compile_seccomp_cached(profile)
    return compiled.program, compiled.flags


def _container_root(linux: dict[str, Any]) -> tuple[int, int]:
    """The host uid and gid that are root inside the container."""
    ids = []
    for key, default in (("uidMappings", os.geteuid()), ("gidMappings", os.getegid())):
        host = default
        for mapping in linux.get(key) or []:
            if mapping["containerID"] <= 0 < mapping["containerID"] + mapping["size"]:
                host = mapping["hostID"]
        ids.append(host)
    return ids[0], ids[1]


_user_names: dict[int, str] = {}


def _owner() -> str:
    """The name of our user, through NSS (~0.3 ms): once a process (the monitor host
    looks it up before it forks its workers)."""
    uid = os.geteuid()
    name = _user_names.get(uid)
    if name is None:
        try:
            name = pwd.getpwuid(uid).pw_name
        except KeyError:
            name = str(uid)
        _user_names[uid] = name
    return name


def _namespace_paths(pid: int, plan: namespaces.NamespacePlan) -> dict[str, str]:
    from capsa.kernel.namespaces import NAMESPACES

    return {kind: f"/proc/{pid}/ns/{NAMESPACES[kind][1]}" for kind in sorted(plan.kinds)}
