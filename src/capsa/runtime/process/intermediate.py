"""The first forked process: joins the cgroup, enters or creates the namespaces, then
forks the container init so that it lands in the new pid namespace, reports the init's
pid and exits.

Joining the cgroups the plain way (our pid into each cgroup.procs) would make the first
write wait for an RCU grace period (7-30 ms here; see capsa.kernel.clone). So this
process, single-threaded as any fresh fork, moves its one thread into the v1 hierarchies
(`enter_v1`), and the init is cloned straight into the v2 cgroup. The init then makes
the new cgroup namespace itself, once it is in all of its cgroups (as runc's init does),
so that the namespace is rooted there."""

from __future__ import annotations

import gc
import os

from capsa.errors import CapsaError
from capsa.kernel import namespaces as kns
from capsa.kernel.clone import fork_into_cgroup
from capsa.runtime import namespaces
from capsa.runtime.process import sync

TYPE_CHECKING = False

if TYPE_CHECKING:
    from capsa.runtime.process.context import InitContext


def run_intermediate(ctx: InitContext) -> None:
    """Never returns: exits the process."""
    gc.disable()  # short-lived: a collection would only copy the pages we share
    code = 1
    try:
        into = _join_cgroups(ctx)
        _setup_namespaces(ctx, defer_cgroupns=into is not None)
        pid = _fork_init(ctx, into)
        if pid == 0:
            from capsa.runtime.process.init import run_init

            run_init(ctx, unshare_cgroupns=into is not None and _new_cgroupns(ctx))
        sync.send(ctx.sync, sync.INIT_PID, pid=pid)
        code = 0
    except CapsaError as exc:
        _report(ctx, str(exc))
    except OSError as exc:
        _report(ctx, f"{exc.strerror or exc}")
    except BaseException as exc:
        import traceback

        _report(ctx, "".join(traceback.format_exception_only(exc)).strip())
    finally:
        os._exit(code)


def _report(ctx: InitContext, text: str) -> None:
    try:
        sync.send(ctx.sync, sync.ERROR, text=text)
    except OSError:
        pass


def _join_cgroups(ctx: InitContext) -> str | None:
    """Join the v1 hierarchies; return the v2 directory to clone the init into, or None
    when there is none or it is joined already."""
    manager = ctx.cgroup
    manager.enter_v1()
    unified = manager.paths().get("unified")
    if unified is None:
        return None
    plan = ctx.plan
    if plan.user_namespace or plan.joins("cgroup"):
        # The kernel checks a clone into a cgroup against the cloning process's
        # credentials and cgroup namespace: once in the container's, ours may no longer
        # reach the host's cgroups. So join before entering them, the slow way.
        manager.add_process(os.getpid(), v1=False)
        return None
    return unified


def _new_cgroupns(ctx: InitContext) -> bool:
    return bool(ctx.plan.unshare_flags & kns.CLONE_NEWCGROUP)


def _fork_init(ctx: InitContext, into: str | None) -> int:
    if into is None:
        return os.fork()
    try:
        fd = os.open(into, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        try:
            return fork_into_cgroup(fd)
        finally:
            os.close(fd)  # in the child as well: nothing of the host's may leak into it
    except OSError:
        # No clone3 (older kernel, a seccomp filter hiding it) or the cgroup refused:
        # the plain way, which also reports or tolerates the refusal as it should.
        ctx.cgroup.add_process(os.getpid(), v1=False)
        return os.fork()


def _setup_namespaces(ctx: InitContext, *, defer_cgroupns: bool) -> None:
    plan = ctx.plan
    fds = namespaces.open_join_fds(plan)
    user_fds = [item for item in fds if item[0] == "user"]
    other_fds = [item for item in fds if item[0] != "user"]
    namespaces.join_namespaces(user_fds)
    if plan.new_user:
        kns.unshare(kns.CLONE_NEWUSER)
        sync.send(ctx.sync, sync.NEED_IDMAP)
        sync.receive(ctx.sync, sync.IDMAP_DONE)
    if plan.user_namespace:
        os.setresgid(0, 0, 0)
        os.setresuid(0, 0, 0)
    namespaces.join_namespaces(other_fds)
    flags = plan.unshare_flags & ~kns.CLONE_NEWCGROUP if defer_cgroupns else plan.unshare_flags
    if flags:
        kns.unshare(flags)
    offsets = ctx.config.get("linux", {}).get("timeOffsets")
    if offsets and plan.unshare_flags & kns.CLONE_NEWTIME:
        lines = "".join(
            f"{clock} {value.get('secs', 0)} {value.get('nanosecs', 0)}\n"
            for clock, value in offsets.items()
        )
        with open("/proc/self/timens_offsets", "w") as f:
            f.write(lines)
