"""Performing one entry of `mounts` inside the container's root.

The mount point is resolved (and created) inside the root by safe_path, then every
mount(2) call targets /proc/self/fd/N of that descriptor. A bind mount gets a second
MS_REMOUNT|MS_BIND pass when its options ask for ro/nosuid/nodev/... (a bind ignores
them), propagation options each get their own call, and recursive options (`rro`...) a
mount_setattr(2) over the whole new tree.
"""

from __future__ import annotations

import errno

from capsa.errors import ContainerError
from capsa.kernel.mounts import MS_BIND, MS_RDONLY, MS_REC, MS_REMOUNT
from capsa.kernel.paths import fd_path
from capsa.kernel.syscalls import AT_EMPTY_PATH, AT_RECURSIVE
from capsa.runtime.rootfs.failure import kernel_error
from capsa.runtime.rootfs.options import keep_locked, statvfs_to_mount_flags
from capsa.runtime.rootfs.safe_path import container_path, make_path, resolve
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
        "cgroup_namespace",
        "root_fd",
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
        self.user_namespace = user_namespace
        self.cgroup_namespace = cgroup_namespace
        self._host_mounts: list[MountInfo] | None = None

    def host_mounts(self) -> list[MountInfo]:
        """The mount table, read once and only when needed (cgroups, no pivot_root)."""
        if self._host_mounts is None:
            from capsa.runtime.rootfs.mountinfo import parse_mountinfo

            try:
                text = self.syscalls.read_file("/proc/self/mountinfo")
            except OSError as exc:
                raise kernel_error("read /proc/self/mountinfo", exc) from None
            self._host_mounts = parse_mountinfo(text)
        return self._host_mounts


def describe(mount: MountSpec) -> str:
    if mount.bind:
        return f"bind mount {mount.source} on {mount.destination}"
    return f"mount {mount.fstype or mount.source} on {mount.destination}"


def mount_entry(ctx: RootContext, mount: MountSpec) -> None:
    what = describe(mount)
    fd = _mount_point(ctx, mount, what)
    try:
        try:
            where = container_path(ctx.syscalls, ctx.root_real, fd)
        except OSError as exc:
            raise kernel_error(what, exc) from None
        _check_destination(mount, where, what)
        mount = _mount_at(ctx, mount, fd, what)
    finally:
        ctx.syscalls.close(fd)
    _after_mount(ctx, mount, where, describe(mount))


def _mount_point(ctx: RootContext, mount: MountSpec, what: str) -> int:
    # proc and sysfs only ever go on a real directory: a symlink there has been the
    # vehicle of container escapes (CVE-2019-19921 and friends).
    strict = not mount.bind and mount.fstype in ("proc", "sysfs")
    directory = mount.source_is_dir if mount.bind else True
    try:
        return make_path(
            ctx.syscalls, ctx.root_fd, mount.destination, directory=directory, nofollow=strict
        )
    except OSError as exc:
        if strict and exc.errno in (errno.ENOTDIR, errno.ELOOP):
            raise ContainerError(
                f"{what}: {mount.destination} must be a directory, not a symlink or a file"
            ) from None
        raise kernel_error(f"{what}: mount point", exc) from None


def _check_destination(mount: MountSpec, where: str, what: str) -> None:
    if where == "/":
        raise ContainerError(f"{what}: the destination resolves to the container's root")
    if where == "/proc":
        if mount.bind or mount.fstype != "proc":
            raise ContainerError(f"{what}: only a proc filesystem may be mounted on /proc")
    elif where.startswith("/proc/") and where not in PROC_FILES_ALLOWED:
        shown = where if where == mount.destination else f"{mount.destination} (-> {where})"
        raise ContainerError(f"{what}: {shown} is inside /proc, where mounts are refused")


def _mount_at(ctx: RootContext, mount: MountSpec, fd: int, what: str) -> MountSpec:
    """The first mount(2) call; returns the mount actually made (sysfs may become a
    bind of /sys)."""
    target = fd_path(fd)
    if mount.bind and mount.options.flags & MS_REMOUNT:
        return mount  # `bind,remount`: only change the mount already there (next step)
    if mount.bind:
        flags = mount.options.flags & (MS_BIND | MS_REC)
        try:
            ctx.syscalls.mount(mount.source, target, None, flags, None)
        except OSError as exc:
            raise kernel_error(what, exc) from None
        return mount
    flags = mount.options.flags
    if delays_readonly(mount):
        flags &= ~MS_RDONLY
    try:
        ctx.syscalls.mount(mount.source, target, mount.fstype, flags, mount.options.data)
    except OSError as exc:
        if mount.fstype == "sysfs" and exc.errno == errno.EPERM and ctx.user_namespace:
            # A user namespace without its own network namespace may not mount sysfs;
            # runc binds the host's /sys instead (read-only via the remount pass).
            flags = mount.options.flags | MS_BIND | MS_REC
            options = mount.options._replace(flags=flags, data=None)
            fallback = mount._replace(fstype=None, source="/sys", options=options)
            return _mount_at(ctx, fallback, fd, describe(fallback))
        raise kernel_error(what, exc) from None
    return mount


def _after_mount(ctx: RootContext, mount: MountSpec, where: str, what: str) -> None:
    options = mount.options
    remount = mount.bind and options.flags & ~(MS_BIND | MS_REC)
    if not (remount or options.propagation or options.recursive_attrs):
        return
    syscalls = ctx.syscalls
    # The descriptor we mounted onto is now covered: open the new mount itself.
    try:
        fd = resolve(syscalls, ctx.root_fd, where)
    except OSError as exc:
        raise kernel_error(f"{what}: reopen", exc) from None
    try:
        if remount:
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


def is_cgroup(mount: MountSpec) -> bool:
    return not mount.bind and mount.fstype == "cgroup"
