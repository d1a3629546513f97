"""The first forked process: joins the cgroup, enters or creates the namespaces, then
forks the container init so that it lands in the new pid namespace, reports the init's
pid and exits."""

from __future__ import annotations

import os

from capsa.errors import CapsaError
from capsa.kernel import namespaces as kns
from capsa.runtime import namespaces
from capsa.runtime.process import sync

TYPE_CHECKING = False

if TYPE_CHECKING:
    from capsa.runtime.process.context import InitContext


def run_intermediate(ctx: InitContext) -> None:
    """Never returns: exits the process."""
    code = 1
    try:
        _setup_namespaces(ctx)
        pid = os.fork()
        if pid == 0:
            from capsa.runtime.process.init import run_init

            run_init(ctx)  # never returns
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


def _setup_namespaces(ctx: InitContext) -> None:
    plan = ctx.plan
    ctx.cgroup_join(os.getpid())
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
    if plan.unshare_flags:
        kns.unshare(plan.unshare_flags)
    offsets = ctx.config.get("linux", {}).get("timeOffsets")
    if offsets and plan.unshare_flags & kns.CLONE_NEWTIME:
        lines = "".join(
            f"{clock} {value.get('secs', 0)} {value.get('nanosecs', 0)}\n"
            for clock, value in offsets.items()
        )
        with open("/proc/self/timens_offsets", "w") as f:
            f.write(lines)
