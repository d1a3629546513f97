"""Start a container's processes: the init straight away when we can, else through the
intermediate (capsa.runtime.process.intermediate).

The intermediate exists to unshare the namespaces (a new pid namespace holds only the
children of whoever unshared it), to be in the user namespace while we write its id
maps, and to join the cgroups before it enters anything. Without a user namespace and
without namespaces to join by path, clone3 does all of that for the init itself: it is
born in its new namespaces and in the v2 cgroup; it moves itself into the v1 cgroups and
then makes its cgroup namespace. That saves a Python process (a fork, its copied pages,
its work: ~1.5 ms a start).

Only when the caller is a child subreaper: the init is then our child, as it would have
been once the intermediate exited and left it to us. A caller that is not one would get
a child it did not get before. And only for a single-threaded caller (clone3 from
Python, see capsa.kernel.clone); anything that stops clone3 falls back to the
intermediate, which reports or tolerates the failure as before.
"""

from __future__ import annotations

import os

from capsa.kernel import namespaces as kns
from capsa.kernel import process as kproc
from capsa.kernel.clone import clone_process

TYPE_CHECKING = False

if TYPE_CHECKING:
    from _socket import socket

    from capsa.runtime.namespaces import NamespacePlan
    from capsa.runtime.process.context import InitContext


def direct_flags(plan: NamespacePlan) -> int | None:
    """The clone flags for the init, or None when it needs the intermediate."""
    if plan.new_user or plan.join or plan.unshare_flags & kns.CLONE_NEWTIME:
        return None  # id maps, setns and time offsets come between the steps
    if not kproc.is_child_subreaper():
        return None
    return plan.unshare_flags & ~kns.CLONE_NEWCGROUP


def clone_init(
    ctx: InitContext, parent_end: socket, flags: int, *, cgroups_later: bool = False
) -> int:
    """The init's pid, or 0 if clone3 would not (nothing was started). It is born in
    the unified cgroup, which must exist; it moves itself into the v1 ones. With
    `cgroups_later` those are made after this returns: the init builds what it can of
    the container meanwhile and joins them once it reads CGROUPS_READY."""
    unified = ctx.cgroup.paths().get("unified")
    try:
        fd = os.open(unified, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC) if unified else None
    except OSError:
        return 0
    try:
        pid = clone_process(flags, fd)
    except OSError:
        return 0
    finally:
        if fd is not None:
            os.close(fd)  # in the child as well: nothing of the host's may leak into it
    if pid == 0:
        parent_end.close()
        from capsa.runtime.process.init import run_init

        run_init(
            ctx,
            enter_v1=True,
            unshare_cgroupns=bool(ctx.plan.unshare_flags & kns.CLONE_NEWCGROUP),
            cgroups_later=cgroups_later,
        )  # never returns
    return pid


def fork_intermediate(ctx: InitContext, parent_end: socket) -> int:
    """The intermediate's pid: it joins the cgroups, which must all exist, enters the
    namespaces and starts the init (capsa.runtime.process.intermediate)."""
    intermediate = os.fork()
    if intermediate == 0:
        parent_end.close()
        from capsa.runtime.process.intermediate import run_intermediate

        run_intermediate(ctx)  # never returns
    return intermediate
