"""Making the rootfs the process's `/`.

pivot_root(2) the way runc (after LXC) does it, without a directory for the old root:
fchdir(new root), pivot_root(".", "."), fchdir(old root), make the old root rslave so
our unmount cannot reach the host, umount2(".", MNT_DETACH), chdir("/").

When pivot_root cannot work -- `/` is the initramfs (rootfs/ramfs), where the kernel
answers EINVAL, or the caller asked for no_pivot (runc's --no-pivot) -- move the rootfs
onto `/` with MS_MOVE and chroot into it. As runc does, every full proc and sysfs
mount of the host is first unmounted (or covered) so the container cannot reach them
and the kernel's "is a full procfs already visible" check cannot help it mount one.
"""

from __future__ import annotations

import errno
import os

from capsa.kernel.mounts import MNT_DETACH, MS_MOVE, MS_PRIVATE, MS_REC, MS_SLAVE
from capsa.runtime.rootfs.failure import kernel_error

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import TypeVar

    from capsa.kernel.syscalls.protocol import Syscalls
    from capsa.runtime.rootfs.mounts import RootContext

    T = TypeVar("T")

RAMFS_ROOTS = ("rootfs", "ramfs")


def enter_root(ctx: RootContext, rootfs: str, *, no_pivot: bool) -> None:
    syscalls = ctx.syscalls
    try:
        old_root = syscalls.open("/", os.O_PATH | os.O_DIRECTORY)
    except OSError as exc:
        raise kernel_error("open /", exc) from None
    try:
        try:
            syscalls.fchdir(ctx.root_fd)
        except OSError as exc:
            raise kernel_error(f"chdir {rootfs}", exc) from None
        if no_pivot:
            move_root(ctx, rootfs)
            return
        try:
            syscalls.pivot_root(".", ".")
        except OSError as exc:
            if exc.errno != errno.EINVAL or not _on_ramfs(ctx):
                raise kernel_error(f"pivot_root {rootfs}", exc) from None
            move_root(ctx, rootfs)
            return
        what = "chdir to the old root"
        try:
            syscalls.fchdir(old_root)
            what = "rslave old root"
            syscalls.mount(None, ".", None, MS_SLAVE | MS_REC, None)
            what = "unmount the old root"
            syscalls.umount2(".", MNT_DETACH)
            what = "chdir /"
            syscalls.chdir("/")
        except OSError as exc:
            raise kernel_error(what, exc) from None
    finally:
        syscalls.close(old_root)


def _on_ramfs(ctx: RootContext) -> bool:
    roots = [m for m in ctx.host_mounts() if m.mount_point == "/"]
    return bool(roots) and roots[0].fstype in RAMFS_ROOTS


def move_root(ctx: RootContext, rootfs: str) -> None:
    """MS_MOVE + chroot; the working directory is already the new root."""
    syscalls = ctx.syscalls
    inside = ctx.root_real.rstrip("/") + "/"
    for info in ctx.host_mounts():
        point = info.mount_point
        if info.fstype not in ("proc", "sysfs") or info.root != "/":
            continue
        if point == ctx.root_real or point.startswith(inside):
            continue
        try:
            # Our unmount must not propagate to the host.
            syscalls.mount(None, point, None, MS_SLAVE | MS_REC, None)
        except OSError as exc:
            if exc.errno == errno.ENOENT:  # under a mount we already took away
                continue
            raise kernel_error(f"rslave {point}", exc) from None
        try:
            syscalls.umount2(point, MNT_DETACH)
        except OSError as exc:
            if exc.errno not in (errno.EINVAL, errno.EPERM):
                raise kernel_error(f"unmount {point}", exc) from None
            # Not ours to unmount (a locked mount in a user namespace): cover it.
            try:
                syscalls.mount("tmpfs", point, "tmpfs", 0, None)
            except OSError as cover_exc:
                raise kernel_error(f"cover {point}", cover_exc) from None
    _call(lambda: syscalls.mount(rootfs, "/", None, MS_MOVE, None), f"move {rootfs} to /")
    _call(lambda: syscalls.chroot("."), f"chroot {rootfs}")
    _call(lambda: syscalls.chdir("/"), "chdir /")


# What prepare_rootfs makes `/` before anything is mounted is rslave (runc's default),
# or rprivate when that is what was asked: either way no mount we make reaches the host.
# Other requests are applied to the container's `/` after pivot_root; these need nothing
# more (plain `slave` on an rslave tree changes nothing).
SET_BEFORE_PIVOT = (MS_SLAVE | MS_REC, MS_PRIVATE | MS_REC, MS_SLAVE)


def apply_root_propagation(syscalls: Syscalls, requested: int) -> None:
    """linux.rootfsPropagation on the container's `/` once it is `/`. `shared` there
    makes a new peer group (the mounts are already slaves of the host), which is what
    the spec means: shared with nested containers, not with the host."""
    if requested in SET_BEFORE_PIVOT:
        return
    what = "set linux.rootfsPropagation on /"
    _call(lambda: syscalls.mount(None, "/", None, requested, None), what)


def _call(action: Callable[[], T], what: str) -> T:
    try:
        return action()
    except OSError as exc:
        raise kernel_error(what, exc) from None
