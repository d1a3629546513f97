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
from capsa.runtime.rootfs.mountinfo import MountInfo, parse_proc_cgroup
from capsa.runtime.rootfs.mounts import (
    RootContext,
    mount_entry,
    mount_point_dir,
    remount_bind,
)
from capsa.runtime.rootfs.options import MountOptions
from capsa.runtime.rootfs.safe_path import resolve
from capsa.runtime.rootfs.spec import MountSpec

CGROUP_ROOT = "/sys/fs/cgroup"
SAFE_FLAGS = MS_NOSUID | MS_NODEV | MS_NOEXEC


def mount_cgroup(ctx: RootContext, mount: MountSpec) -> None:
    mounts = ctx.host_mounts()
    top = [m for m in mounts if m.mount_point == CGROUP_ROOT]
    if top and top[-1].fstype == "cgroup2":
        _mount_v2(ctx, mount)
    else:
        _mount_v1(ctx, mount, _hierarchies(mounts))


def _hierarchies(mounts: list[MountInfo]) -> list[MountInfo]:
    """The host's v1 hierarchies, one per mount point under /sys/fs/cgroup: not the
    copies an rbind of /sys may have brought into the rootfs."""
    seen: dict[str, MountInfo] = {}
    for info in mounts:
        if info.fstype == "cgroup" and posixpath.dirname(info.mount_point) == CGROUP_ROOT:
            seen.setdefault(info.mount_point, info)
    return list(seen.values())


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


def _mount_v1(ctx: RootContext, mount: MountSpec, hierarchies: list[MountInfo]) -> None:
    options = mount.options
    tmpfs = MountOptions(flags=SAFE_FLAGS, propagation=options.propagation, data="mode=755")
    mount_entry(ctx, MountSpec(mount.field, mount.destination, "tmpfs", "tmpfs", tmpfs))
    own = {} if ctx.cgroup_namespace else _own_cgroups(ctx)
    merged: list[str] = []
    for hierarchy in hierarchies:
        name = posixpath.basename(hierarchy.mount_point)
        destination = f"{mount.destination}/{name}"
        if "," in name:
            merged.append(name)
        controllers = hierarchy.controllers
        if ctx.cgroup_namespace:
            # The cgroup namespace makes our cgroup the root of a fresh mount.
            flags = SAFE_FLAGS | (options.flags & MS_RDONLY)
            fresh = MountOptions(flags=flags, data=",".join(controllers))
            mount_entry(ctx, MountSpec(mount.field, destination, "cgroup", "cgroup", fresh))
            continue
        path = own.get(frozenset(controllers))
        source = _source(hierarchy, path)
        if source is None:
            raise ContainerError(
                f"mount cgroup on {destination}: this process is in no cgroup of the "
                f"{','.join(controllers)} hierarchy mounted at {hierarchy.mount_point}"
            )
        bind = MountOptions(
            flags=options.flags | MS_BIND | MS_REC,
            cleared=options.cleared,
            propagation=options.propagation,
        )
        mount_entry(ctx, MountSpec(mount.field, destination, None, source, bind))
    if merged:
        _link_controllers(ctx, mount.destination, merged)
    if options.flags & MS_RDONLY:
        _tmpfs_readonly(ctx, mount)


def _source(hierarchy: MountInfo, path: str | None) -> str | None:
    """Our cgroup's directory on the host, under the hierarchy's mount point."""
    if path is None:
        return None
    root = hierarchy.root.rstrip("/")
    if root and path != root and not path.startswith(root + "/"):
        return None
    relative = path[len(root) :]
    return posixpath.normpath(hierarchy.mount_point + "/" + relative)


def _link_controllers(ctx: RootContext, destination: str, merged: list[str]) -> None:
    dir_fd = mount_point_dir(ctx, destination)
    try:
        for name in merged:
            for controller in name.split(","):
                try:
                    ctx.syscalls.symlinkat(name, dir_fd, controller)
                except FileExistsError:
                    pass
                except OSError as exc:
                    raise kernel_error(f"symlink {destination}/{controller}", exc) from None
    finally:
        ctx.syscalls.close(dir_fd)


def _tmpfs_readonly(ctx: RootContext, mount: MountSpec) -> None:
    what = f"mount tmpfs on {mount.destination}"
    try:
        fd = resolve(ctx.syscalls, ctx.root_fd, mount.destination)
    except OSError as exc:
        raise kernel_error(f"{what}: reopen", exc) from None
    try:
        remount_bind(ctx, fd, MountOptions(flags=SAFE_FLAGS | MS_RDONLY), what)
    finally:
        ctx.syscalls.close(fd)
