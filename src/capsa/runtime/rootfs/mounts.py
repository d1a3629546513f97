"""Performing one entry of `mounts` inside the container's root.

The mount point is resolved (and created) inside the root by safe_path, then every
mount(2) call targets /proc/self/fd/N of that descriptor. A bind mount gets a second
MS_REMOUNT|MS_BIND pass when its options ask for ro/nosuid/nodev/... (a bind ignores
them), propagation options each get their own call, and recursive options (`rro`...) a
mount_setattr(2) over the whole new tree.
"""

from __future__ import annotations

import errno
from os import O_DIRECTORY, O_NOFOLLOW, O_PATH

from capsa.errors import ContainerError
from capsa.kernel.mounts import MS_BIND, MS_RDONLY, MS_REC, MS_REMOUNT
from capsa.kernel.paths import fd_path
from capsa.kernel.syscalls import AT_EMPTY_PATH, AT_RECURSIVE
from capsa.runtime.rootfs.failure import RootfsPathError, kernel_error
from capsa.runtime.rootfs.options import keep_locked, statvfs_to_mount_flags
from capsa.runtime.rootfs.safe_path import (
    CHILD_DIRECTORY_FLAGS,
    DIRECTORY_FLAGS,
    DIRECTORY_MODE,
    make_missing,
    make_path,
    resolve,
)
from capsa.runtime.rootfs.spec import MountSpec, delays_readonly

TYPE_CHECKING = False
if TYPE_CHECKING:
    from capsa.kernel.syscalls.protocol import Syscalls
    from capsa.runtime.rootfs.mountinfo import MountInfo
    from capsa.runtime.rootfs.options import MountOptions

# Files inside /proc that may be mounted over (lxcfs emulates them), as runc allows.
PROC_FILES_ALLOWED = frozenset(
    {
        "/proc/cpuinfo",
        "/proc/diskstats",
        "/proc/meminfo",
        "/proc/stat",
        "/proc/swaps",
        "/proc/uptime",
        "/proc/loadavg",
        "/proc/slabinfo",
        "/proc/net/dev",
        "/proc/sys/kernel/ns_last_pid",
    }
)


class RootContext:
    """What every mount needs: the kernel, a descriptor of the rootfs and its real path."""

    __slots__ = (
        "_host_mounts",
        "_mountinfo",
        "cgroup_namespace",
        "root_fd",
        "root_prefix",
        "root_real",
        "syscalls",
        "user_namespace",
    )

    def __init__(
        self,
        syscalls: Syscalls,
        root_fd: int,
        root_real: str,
        user_namespace: bool,
        cgroup_namespace: bool,
    ) -> None:
        self.syscalls = syscalls
        self.root_fd = root_fd
        self.root_real = root_real
        self.root_prefix = root_real.rstrip("/") + "/"  # what paths inside it begin with
        self.user_namespace = user_namespace
        self.cgroup_namespace = cgroup_namespace
        self._mountinfo: str | None = None
        self._host_mounts: list[MountInfo] | None = None

    def mountinfo(self) -> str:
        """/proc/self/mountinfo, read once and only when needed (cgroups, no pivot_root)."""
        if self._mountinfo is None:
            try:
                self._mountinfo = self.syscalls.read_file("/proc/self/mountinfo")
            except OSError as exc:
                raise kernel_error("read /proc/self/mountinfo", exc) from None
        return self._mountinfo

    def host_mounts(self) -> list[MountInfo]:
        """The mount table, as mountinfo() read it."""
        if self._host_mounts is None:
            from capsa.runtime.rootfs.mountinfo import parse_mountinfo

            self._host_mounts = parse_mountinfo(self.mountinfo())
        return self._host_mounts


def describe(mount: MountSpec) -> str:
    if mount.options.flags & MS_BIND:
        return f"bind mount {mount.source} on {mount.destination}"
    return f"mount {mount.fstype or mount.source} on {mount.destination}"


# This module runs in a process that has run none of its code before, where the first
# call of each function costs far more than its body (copy-on-write faults on the pages
# of its code and of everything it touches): the usual path of an entry is written out
# in mount_entry, with functions for the rarer turns.


def mount_entry(ctx: RootContext, mount: MountSpec) -> str:
    """Mount one entry; returns where, inside the container, its mount point is."""
    syscalls = ctx.syscalls
    options = mount.options
    flags = options.flags
    if flags & MS_BIND:
        strict = False
        open_flags = DIRECTORY_FLAGS if mount.source_is_dir else O_PATH
    else:
        # proc and sysfs only ever go on a real directory: a symlink there has been the
        # vehicle of container escapes (CVE-2019-19921 and friends).
        strict = mount.fstype in ("proc", "sysfs")
        open_flags = DIRECTORY_FLAGS | O_NOFOLLOW if strict else DIRECTORY_FLAGS
    fd = syscalls.try_open_in_root(ctx.root_fd, mount.destination, open_flags)
    if fd < 0:
        fd = _make_mount_point(ctx, mount, open_flags, strict, -fd)
    try:
        # Where the mount point is in the container: the kernel's name for it, the
        # rootfs prefix taken off; anything outside the root (which openat2 should have
        # made impossible) is refused, the belt to its braces.
        target = f"/proc/self/fd/{fd}"
        try:
            real = syscalls.readlink(target)
        except OSError as exc:
            raise kernel_error(describe(mount), exc) from None
        prefix = ctx.root_prefix
        if real.startswith(prefix):
            where = real[len(prefix) - 1 :]
        elif real == ctx.root_real:
            where = "/"
        else:
            reason = f"resolves to {real}, outside the container's root"
            raise kernel_error(describe(mount), RootfsPathError(errno.EXDEV, reason))
        if where == "/" or where.startswith("/proc"):
            _check_destination(mount, where)
        mount = _mount_at(ctx, mount, target)
    finally:
        syscalls.close(fd)
    options = mount.options
    flags = options.flags
    if (
        (flags & MS_BIND and flags & ~(MS_BIND | MS_REC))
        or options.propagation
        or options.attr_set
        or options.attr_clr
    ):
        _after_mount(ctx, mount, where)
    return where


def mount_in_directory(ctx: RootContext, dir_fd: int, where: str, mount: MountSpec) -> None:
    """mount_entry for a directory mount point `name` (the last component of the entry's
    destination) in dir_fd, a directory of ours that is at `where` in the container (the
    top of a tmpfs we have just mounted): made with mkdirat there and opened with
    openat(O_NOFOLLOW), so no lookup from the root is needed. If something is already
    there, mount_entry resolves the destination the usual way."""
    syscalls = ctx.syscalls
    name = mount.destination.rpartition("/")[2]
    try:
        syscalls.mkdirat(dir_fd, name, DIRECTORY_MODE)
        fd = syscalls.openat(dir_fd, name, CHILD_DIRECTORY_FLAGS)
    except OSError as exc:
        if exc.errno == errno.EEXIST:
            mount_entry(ctx, mount)
            return
        raise kernel_error(f"{describe(mount)}: mount point", exc) from None
    where = f"{where.rstrip('/')}/{name}"
    try:
        if where.startswith("/proc"):
            _check_destination(mount, where)
        mount = _mount_at(ctx, mount, f"/proc/self/fd/{fd}")
    finally:
        syscalls.close(fd)
    options = mount.options
    flags = options.flags
    if (
        (flags & MS_BIND and flags & ~(MS_BIND | MS_REC))
        or options.propagation
        or options.attr_set
        or options.attr_clr
    ):
        _after_mount(ctx, mount, where, dir_fd, name)


def _make_mount_point(
    ctx: RootContext, mount: MountSpec, flags: int, strict: bool, code: int
) -> int:
    """The mount point, after looking it up said `code` (an errno): made if missing."""
    try:
        return make_missing(
            ctx.syscalls, ctx.root_fd, mount.destination, flags, flags & O_DIRECTORY != 0, code
        )
    except OSError as exc:
        what = describe(mount)
        if strict and exc.errno in (errno.ENOTDIR, errno.ELOOP):
            raise ContainerError(
                f"{what}: {mount.destination} must be a directory, not a symlink or a file"
            ) from None
        raise kernel_error(f"{what}: mount point", exc) from None


def _check_destination(mount: MountSpec, where: str) -> None:
    if where == "/":
        what = describe(mount)
        raise ContainerError(f"{what}: the destination resolves to the container's root")
    if where == "/proc":
        if mount.options.flags & MS_BIND or mount.fstype != "proc":
            what = describe(mount)
            raise ContainerError(f"{what}: only a proc filesystem may be mounted on /proc")
    elif where.startswith("/proc/") and where not in PROC_FILES_ALLOWED:
        what = describe(mount)
        shown = where if where == mount.destination else f"{mount.destination} (-> {where})"
        raise ContainerError(f"{what}: {shown} is inside /proc, where mounts are refused")


def _mount_at(ctx: RootContext, mount: MountSpec, target: str) -> MountSpec:
    """The first mount(2) call, on `target` (/proc/self/fd/N of the mount point);
    returns the mount actually made (sysfs may become a bind of /sys)."""
    options = mount.options
    flags = options.flags
    if flags & MS_BIND:
        if flags & MS_REMOUNT:
            return mount  # `bind,remount`: only change the mount already there (next step)
        try:
            ctx.syscalls.mount(mount.source, target, None, flags & (MS_BIND | MS_REC), None)
        except OSError as exc:
            raise kernel_error(describe(mount), exc) from None
        return mount
    if flags & MS_RDONLY and delays_readonly(mount):
        flags &= ~MS_RDONLY
    try:
        ctx.syscalls.mount(mount.source, target, mount.fstype, flags, options.data)
    except OSError as exc:
        if mount.fstype == "sysfs" and exc.errno == errno.EPERM and ctx.user_namespace:
            # A user namespace without its own network namespace may not mount sysfs;
            # runc binds the host's /sys instead (read-only via the remount pass).
            flags = options.flags | MS_BIND | MS_REC
            fallback = mount._replace(
                fstype=None, source="/sys", options=options._replace(flags=flags, data=None)
            )
            return _mount_at(ctx, fallback, target)
        raise kernel_error(describe(mount), exc) from None
    return mount


def _after_mount(
    ctx: RootContext, mount: MountSpec, where: str, dir_fd: int = -1, name: str = ""
) -> None:
    """The calls after the first: a bind's remount with its options, propagation changes,
    recursive attributes. They go to the new mount, reopened by `where` from the root, or
    as `name` in `dir_fd` when mount_in_directory made it."""
    options = mount.options
    flags = options.flags
    syscalls = ctx.syscalls
    what = describe(mount)
    # The descriptor we mounted onto is now covered: open the new mount itself.
    try:
        if dir_fd >= 0:
            fd = syscalls.openat(dir_fd, name, CHILD_DIRECTORY_FLAGS)
        else:
            fd = resolve(syscalls, ctx.root_fd, where)
    except OSError as exc:
        raise kernel_error(f"{what}: reopen", exc) from None
    try:
        if flags & MS_BIND and flags & ~(MS_BIND | MS_REC):
            remount_bind(ctx, fd, options, what)
        for propagation in options.propagation:
            try:
                syscalls.mount(None, fd_path(fd), None, propagation, None)
            except OSError as exc:
                raise kernel_error(f"{what}: set propagation", exc) from None
        if options.recursive_attrs:
            try:
                syscalls.mount_setattr(
                    fd, "", AT_EMPTY_PATH | AT_RECURSIVE, options.attr_set, options.attr_clr, 0
                )
            except OSError as exc:
                raise kernel_error(f"{what}: set recursive options", exc) from None
    finally:
        syscalls.close(fd)


def remount_bind(ctx: RootContext, fd: int, options: MountOptions, what: str) -> None:
    """Give a bind mount its options. In a user namespace the kernel refuses to drop
    flags it locked on the source (ro, nosuid, nodev, noexec, atime): keep those, read
    from statvfs, unless the options explicitly ask otherwise."""
    syscalls = ctx.syscalls
    flags = MS_REMOUNT | MS_BIND | (options.flags & ~(MS_BIND | MS_REC | MS_REMOUNT))
    if ctx.user_namespace:
        flags = keep_locked(flags, options.cleared, statvfs_to_mount_flags(syscalls.fstatvfs(fd)))
    try:
        syscalls.mount(None, fd_path(fd), None, flags, None)
        return
    except OSError as exc:
        if exc.errno != errno.EPERM or ctx.user_namespace:
            raise kernel_error(f"{what}: remount", exc) from None
        first = exc
    # Not asked for a user namespace, but the runtime itself may run in one (rootless).
    retry = keep_locked(flags, options.cleared, statvfs_to_mount_flags(syscalls.fstatvfs(fd)))
    if retry == flags:
        raise kernel_error(f"{what}: remount", first)
    try:
        syscalls.mount(None, fd_path(fd), None, retry, None)
    except OSError as exc:
        raise kernel_error(f"{what}: remount", exc) from None


def mount_point_dir(ctx: RootContext, path: str) -> int:
    """A descriptor of a directory inside the root (made if missing), for *at() calls."""
    try:
        return make_path(ctx.syscalls, ctx.root_fd, path, directory=True)
    except OSError as exc:
        raise kernel_error(f"create directory {path}", exc) from None
