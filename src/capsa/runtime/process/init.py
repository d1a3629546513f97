"""The container's init process: PID 1 of the container until it execs the user's
program. It builds the root filesystem, applies the process settings, tells the runtime
it is ready, then blocks on the exec fifo until `start`."""

from __future__ import annotations

import gc
import os
import sys

from capsa.errors import CapsaError, ContainerError
from capsa.kernel import process as kproc
from capsa.kernel.syscalls.real import RealSyscalls
from capsa.runtime.process import setup, sync
from capsa.runtime.rootfs import finalize_rootfs, prepare_rootfs

TYPE_CHECKING = False

if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any

    from capsa.runtime.process.context import InitContext


def run_init(
    ctx: InitContext,
    *,
    enter_v1: bool = False,
    unshare_cgroupns: bool = False,
    cgroups_later: bool = False,
) -> None:
    """Never returns: execs the user's program or exits non-zero. `enter_v1`: move into
    the v1 cgroups (cloned straight from the runtime, see spawn.py); `unshare_cgroupns`:
    then make the new cgroup namespace here, once in every cgroup. Both come first, or
    with `cgroups_later` once the runtime says the v1 cgroups exist (CGROUPS_READY),
    which it is asked for just before the first cgroup mount: the mounts before it are
    made meanwhile."""
    # Short-lived until exec: a collection would touch, and so copy, every page we share
    # with the runtime (a long-lived engine's heap above all).
    gc.disable()
    ready = False

    def join_cgroups() -> None:
        if cgroups_later:
            sync.receive(ctx.sync, sync.CGROUPS_READY)
        if enter_v1:
            ctx.cgroup.enter_v1()
        if unshare_cgroupns:
            from capsa.kernel import namespaces as kns

            kns.unshare(kns.CLONE_NEWCGROUP)

    try:
        if not cgroups_later:
            join_cgroups()
        # Nothing in the container may ptrace or open /proc/1/exe of the runtime
        # while it still runs runtime code (the CVE-2019-5736 class); execve resets it.
        kproc.set_dumpable(False)
        program, env = _prepare(ctx, join_cgroups if cgroups_later else None)
        sync.send(ctx.sync, sync.READY)
        ctx.sync.close()
        ready = True
        _wait_for_start(ctx)
        _run_start_container_hooks(ctx)
        if ctx.seccomp_program is not None and _no_new_privileges(ctx.config):
            from capsa.runtime import seccomp

            seccomp.load(seccomp.CompiledFilter(ctx.seccomp_program, ctx.seccomp_flags, 0))
        setup.exec_program(program, ctx.config["process"]["args"], env)
    except CapsaError as exc:
        _fail(ctx, str(exc), ready)
    except OSError as exc:
        where = f" {exc.filename}" if exc.filename else ""
        _fail(ctx, f"{exc.strerror or exc}{where}", ready)
    except BaseException as exc:
        import traceback

        _fail(ctx, "".join(traceback.format_exception(exc)).strip(), ready)
    os._exit(1)


def _no_new_privileges(config: dict[str, Any]) -> bool:
    return bool(config["process"].get("noNewPrivileges", False))


def _fail(ctx: InitContext, text: str, ready: bool) -> None:
    if not ready:
        try:
            sync.send(ctx.sync, sync.ERROR, text=text)
            return
        except OSError:
            pass
    try:
        os.write(2, f"capsa-runtime: container {ctx.container_id}: {text}\n".encode())
    except OSError:
        pass
    os._exit(127)


def _state(ctx: InitContext, status: str) -> dict[str, Any]:
    return {
        "ociVersion": ctx.config.get("ociVersion", "1.0.0"),
        "id": ctx.container_id,
        "status": status,
        "pid": os.getpid(),
        "bundle": str(ctx.bundle),
        "annotations": ctx.config.get("annotations", {}),
    }


def _prepare(
    ctx: InitContext, join_cgroups: Callable[[], None] | None
) -> tuple[str, dict[str, str]]:
    config = ctx.config
    process = config["process"]
    linux = config.get("linux", {})
    plan = ctx.plan
    os.setsid()
    syscalls = RealSyscalls()
    if not plan.has_mount:
        raise ContainerError("linux.namespaces must include a mount namespace")

    hooks_config = config.get("hooks", {})
    has_hooks = any(
        hooks_config.get(kind) for kind in ("prestart", "createRuntime", "createContainer")
    )

    def before_pivot() -> None:
        # prestart and createRuntime hooks run in the runtime's namespaces, after the
        # mounts are made; createContainer hooks in ours, before pivot_root.
        sync.send(ctx.sync, sync.RUN_HOOKS)
        sync.receive(ctx.sync, sync.HOOKS_DONE)
        hooks = config.get("hooks", {}).get("createContainer", [])
        if hooks:
            from capsa.runtime.hooks import run_hooks

            run_hooks("createContainer", hooks, _state(ctx, "created"))

    prepare_rootfs(
        config,
        ctx.bundle,
        syscalls,
        user_namespace=plan.user_namespace,
        cgroup_namespace="cgroup" in plan.kinds,
        before_pivot=before_pivot if has_hooks else None,
        before_cgroups=join_cgroups,
        no_pivot=ctx.no_pivot,
    )
    if "uts" in plan.kinds:
        if config.get("hostname"):
            kproc.sethostname(config["hostname"])
        if config.get("domainname"):
            kproc.setdomainname(config["domainname"])
    elif config.get("hostname"):
        raise ContainerError("hostname is set but linux.namespaces has no uts namespace")
    if not ctx.no_new_keyring:
        try:
            kproc.join_session_keyring(f"_ses.{ctx.container_id}"[:255])
        except OSError as exc:
            if exc.errno not in (38, 13, 1):  # ENOSYS, EACCES, EPERM: keyrings off here
                raise
    for key, value in linux.get("sysctl", {}).items():
        _write_sysctl(key, value)
    cwd = process["cwd"]
    os.makedirs(cwd, mode=0o755, exist_ok=True)
    finalize_rootfs(config, syscalls)
    if process.get("terminal"):
        _setup_terminal(ctx, process)
    elif ctx.console is not None:
        ctx.console.close()
    if "oomScoreAdj" in process:
        setup.apply_oom_score_adj(process["oomScoreAdj"])
    setup.apply_rlimits(process.get("rlimits", []))
    if "personality" in linux:
        setup.apply_personality(linux["personality"])
    if "ioPriority" in process:
        setup.apply_io_priority(process["ioPriority"])
    if "scheduler" in process:
        setup.apply_scheduler(process["scheduler"])
    setup.apply_security_labels(process)
    no_new_privs = _no_new_privileges(config)
    if no_new_privs:
        kproc.set_no_new_privs()
    elif ctx.seccomp_program is not None:
        # Without no_new_privs, loading a filter needs CAP_SYS_ADMIN: do it while we have it.
        from capsa.runtime import seccomp

        seccomp.load(seccomp.CompiledFilter(ctx.seccomp_program, ctx.seccomp_flags, 0))
    kproc.close_range_cloexec(3 + ctx.preserve_fds)
    for fd in range(3, 3 + ctx.preserve_fds):
        try:
            os.set_inheritable(fd, True)
        except OSError:
            pass
    capabilities = process.get("capabilities")
    setup.drop_bounding_set(capabilities)
    setup.switch_user(process.get("user", {}), setgroups_allowed=_setgroups_allowed())
    try:
        os.chdir(cwd)
    except OSError as exc:
        raise ContainerError(f"cannot change to process.cwd {cwd}: {exc.strerror}") from None
    setup.apply_capabilities(capabilities)
    env = setup.environment(process)
    program = setup.find_executable(process["args"][0], env, cwd)
    return program, env


def _setgroups_allowed() -> bool:
    try:
        with open("/proc/self/setgroups") as f:
            return f.read().strip() != "deny"
    except OSError:
        return True


def _write_sysctl(key: str, value: str) -> None:
    path = "/proc/sys/" + key.replace(".", "/")
    if ".." in key.split("."):
        raise ContainerError(f"invalid linux.sysctl key {key!r}")
    try:
        with open(path, "w") as f:
            f.write(value)
    except OSError as exc:
        raise ContainerError(f"cannot set linux.sysctl {key}={value}: {exc.strerror}") from None


def _setup_terminal(ctx: InitContext, process: dict[str, Any]) -> None:
    if ctx.console is None:
        raise ContainerError("process.terminal is true but no --console-socket was given")
    from capsa.runtime import console

    master, slave, slave_path = console.open_pty_in_container()
    size = process.get("consoleSize")
    if size:
        console.set_window_size(master, size["height"], size["width"])
    if os.path.exists("/dev/console"):
        from capsa.kernel import mounts

        mounts.mount(slave_path, "/dev/console", None, mounts.MS_BIND, None)
    console.send_master(ctx.console, master, slave_path)
    os.close(master)
    ctx.console.close()
    console.become_controlling_terminal(slave)


def _wait_for_start(ctx: InitContext) -> None:
    """Block until `start` opens the fifo for reading, then tell it we are going."""
    fd = os.open(f"/proc/self/fd/{ctx.fifo_fd}", os.O_WRONLY | os.O_CLOEXEC)
    os.write(fd, b"0")
    os.close(fd)
    os.close(ctx.fifo_fd)


def _run_start_container_hooks(ctx: InitContext) -> None:
    hooks = ctx.config.get("hooks", {}).get("startContainer", [])
    if hooks:
        from capsa.runtime.hooks import run_hooks

        run_hooks("startContainer", hooks, _state(ctx, "created"))
    sys.stdout.flush()
