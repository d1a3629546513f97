"""Mounts of type `cgroup`, done the way runc does them.

- Pure cgroup v2 host (cgroup2 at /sys/fs/cgroup): a cgroup2 mount; when the kernel
  refuses it (a user namespace without a cgroup namespace), a bind of the host's
  /sys/fs/cgroup, or of our own cgroup there when a cgroup namespace was asked for.
- v1 or hybrid host: a tmpfs at the destination, then one directory per v1 hierarchy:
  with a cgroup namespace a fresh `cgroup` mount of that hierarchy, without one a bind
  of this process's own cgroup in it (the options of the entry, usually `ro`, apply to
  every bind). Co-mounted hierarchies (`cpu,cpuacct`) get a symlink per controller.
  Like runc, the hybrid host's cgroup2 mount (/sys/fs/cgroup/unified) is not carried in.
"""

from __future__ import annotations

import errno
import posixpath

from capsa.errors import ContainerError
from capsa.kernel.mounts import MS_BIND, MS_NODEV, MS_NOEXEC, MS_NOSUID, MS_RDONLY, MS_REC
from capsa.runtime.rootfs.failure import MountFailed, kernel_error
from capsa.runtime.rootfs.mountinfo import cgroup_layout, parse_proc_cgroup
from capsa.runtime.rootfs.mounts import (
    RootContext,
    mount_entry,
    mount_in_directory,
    mount_point_dir,
    remount_bind,
)
from capsa.runtime.rootfs.options import MountOptions
from capsa.runtime.rootfs.spec import MountSpec

TYPE_CHECKING = False
if TYPE_CHECKING:
    from capsa.runtime.rootfs.mountinfo import Hierarchy

CGROUP_ROOT = "/sys/fs/cgroup"
SAFE_FLAGS = MS_NOSUID | MS_NODEV | MS_NOEXEC


def mount_cgroup(ctx: RootContext, mount: MountSpec) -> None:
    top, hierarchies = cgroup_layout(ctx.mountinfo(), CGROUP_ROOT)
    if top == "cgroup2":
        _mount_v2(ctx, mount)
    else:
        _mount_v1(ctx, mount, hierarchies)


def _own_cgroups(ctx: RootContext) -> dict[frozenset[str], str]:
    try:
        return parse_proc_cgroup(ctx.syscalls.read_file("/proc/self/cgroup"))
    except OSError as exc:
        raise kernel_error("read /proc/self/cgroup", exc) from None


def _mount_v2(ctx: RootContext, mount: MountSpec) -> None:
    cgroup2 = MountSpec(mount.field, mount.destination, "cgroup2", mount.source, mount.options)
    try:
        mount_entry(ctx, cgroup2)
        return
    except MountFailed as exc:
        if exc.errno not in (errno.EPERM, errno.EBUSY):
            raise
    source = CGROUP_ROOT
    if ctx.cgroup_namespace:
        own = _own_cgroups(ctx).get(frozenset(), "/")
        source = posixpath.normpath(CGROUP_ROOT + "/" + own)
    options = MountOptions(
        flags=mount.options.flags | MS_BIND | MS_REC,
        cleared=mount.options.cleared,
        propagation=mount.options.propagation,
    )
    mount_entry(ctx, MountSpec(mount.field, mount.destination, None, source, options))


def _mount_v1(ctx: RootContext, mount: MountSpec, hierarchies: list[Hierarchy]) -> None:
    """The tmpfs, then each hierarchy in a directory made in it: through a descriptor of
    the tmpfs (mount_in_directory), one lookup from the root for them all."""
    options = mount.options
    tmpfs = MountOptions(SAFE_FLAGS, 0, options.propagation, 0, 0, "mode=755")
    where = mount_entry(ctx, MountSpec(mount.field, mount.destination, "tmpfs", "tmpfs", tmpfs))
    cgroup_namespace = ctx.cgroup_namespace
    own = {} if cgroup_namespace else _own_cgroups(ctx)
    fresh_flags = SAFE_FLAGS | (options.flags & MS_RDONLY)
    bind = MountOptions(options.flags | MS_BIND | MS_REC, options.cleared, options.propagation)
    merged: list[str] = []
    dir_fd = mount_point_dir(ctx, mount.destination)  # the tmpfs, on top now
    try:
        for mount_point, root, controllers in hierarchies:
            name = mount_point[mount_point.rfind("/") + 1 :]  # posixpath.basename
            destination = f"{mount.destination}/{name}"
            if "," in name:
                merged.append(name)
            if cgroup_namespace:
                # The cgroup namespace makes our cgroup the root of a fresh mount.
                fresh = MountOptions(fresh_flags, 0, (), 0, 0, ",".join(controllers))
                entry = MountSpec(mount.field, destination, "cgroup", "cgroup", fresh)
                mount_in_directory(ctx, dir_fd, where, entry)
                continue
            source = _source(mount_point, root, own.get(frozenset(controllers)))
            if source is None:
                raise ContainerError(
                    f"mount cgroup on {destination}: this process is in no cgroup of the "
                    f"{','.join(controllers)} hierarchy mounted at {mount_point}"
                )
            entry = MountSpec(mount.field, destination, None, source, bind)
            mount_in_directory(ctx, dir_fd, where, entry)
        if merged:
            _link_controllers(ctx, dir_fd, mount.destination, merged)
        if options.flags & MS_RDONLY:
            what = f"mount tmpfs on {mount.destination}"
            remount_bind(ctx, dir_fd, MountOptions(SAFE_FLAGS | MS_RDONLY), what)
    finally:
        ctx.syscalls.close(dir_fd)


def _source(mount_point: str, root: str, path: str | None) -> str | None:
    """Our cgroup's directory on the host, under the hierarchy's mount point."""
    if path is None:
        return None
    root = root.rstrip("/")
    if root and path != root and not path.startswith(root + "/"):
        return None
    relative = path[len(root) :]
    return posixpath.normpath(mount_point + "/" + relative)


def _link_controllers(ctx: RootContext, dir_fd: int, destination: str, merged: list[str]) -> None:
    for name in merged:
        for controller in name.split(","):
            try:
                ctx.syscalls.symlinkat(name, dir_fd, controller)
            except FileExistsError:
                pass
            except OSError as exc:
                raise kernel_error(f"symlink {destination}/{controller}", exc) from None
