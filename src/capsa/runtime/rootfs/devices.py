"""/dev inside the container: the default devices of config-linux.md and those of
`linux.devices`, /dev/ptmx, and the /dev/fd, stdin, stdout, stderr (and core) links.

Devices are made with mknod(2), or, in a user namespace (where mknod is not allowed),
by bind-mounting the host's node of the same path onto an empty file, as runc does.
Nothing here happens when a bind mount provides /dev: that /dev is the user's.
"""

from __future__ import annotations

import errno
import os
import stat

from capsa.errors import ContainerError
from capsa.kernel.mounts import MS_BIND
from capsa.kernel.paths import fd_path
from capsa.runtime.rootfs.failure import kernel_error
from capsa.runtime.rootfs.mounts import RootContext, mount_point_dir
from capsa.runtime.rootfs.safe_path import resolve
from capsa.runtime.rootfs.spec import DeviceSpec

DEFAULT_DEVICES = tuple(
    DeviceSpec("default device", path, stat.S_IFCHR, major, minor, 0o666, 0, 0)
    for path, major, minor in (
        ("/dev/null", 1, 3),
        ("/dev/zero", 1, 5),
        ("/dev/full", 1, 7),
        ("/dev/random", 1, 8),
        ("/dev/urandom", 1, 9),
        ("/dev/tty", 5, 0),
    )
)

DEV_SYMLINKS: tuple[tuple[str, str], ...] = (
    ("fd", "/proc/self/fd"),
    ("stdin", "/proc/self/fd/0"),
    ("stdout", "/proc/self/fd/1"),
    ("stderr", "/proc/self/fd/2"),
)


def setup_dev(ctx: RootContext, devices: tuple[DeviceSpec, ...], terminal: bool) -> None:
    syscalls = ctx.syscalls
    todo = list(devices)
    asked = {device.path for device in devices} if devices else ()
    for device in DEFAULT_DEVICES:
        if device.path not in asked:
            todo.append(device)
    # Each directory a device goes in is resolved once: making a device node (never a
    # directory nor a symlink) cannot change what a path resolves to. A bind mount can
    # (over a directory that is there already): after one, every path is looked up anew.
    dirs: dict[str, int] = {}
    try:
        for device in todo:
            parent, _, name = device.path.rpartition("/")  # the path is clean and absolute
            parent = parent or "/"
            dir_fd = dirs.get(parent)
            if dir_fd is None:
                dir_fd = dirs[parent] = mount_point_dir(ctx, parent)
            if create_device(ctx, device, dir_fd, name):
                for fd in dirs.values():
                    syscalls.close(fd)
                dirs.clear()
        dev_fd = dirs.pop("/dev", None)
        if dev_fd is None:
            dev_fd = mount_point_dir(ctx, "/dev")
    finally:
        for fd in dirs.values():
            syscalls.close(fd)
    try:
        # /dev/ptmx is the container's own devpts multiplexer (config-linux.md). /dev
        # is usually a fresh tmpfs, with nothing there to remove first.
        try:
            syscalls.symlinkat("pts/ptmx", dev_fd, "ptmx")
        except OSError:
            _replace_ptmx(ctx, dev_fd)
        links = DEV_SYMLINKS
        try:
            syscalls.stat("/proc/kcore")
            links = (*DEV_SYMLINKS, ("core", "/proc/kcore"))
        except OSError:
            pass  # CONFIG_PROC_KCORE may be off
        for name, target in links:
            try:
                syscalls.symlinkat(target, dev_fd, name)
            except OSError as exc:
                if exc.errno != errno.EEXIST:
                    raise kernel_error(f"symlink /dev/{name} -> {target}", exc) from None
        if terminal:
            # The mount point for the console the runtime binds there after pivot_root.
            _touch(ctx, dev_fd, "console", "/dev/console")
    finally:
        syscalls.close(dev_fd)


def _replace_ptmx(ctx: RootContext, dev_fd: int) -> None:
    """/dev/ptmx when something is in the way: whatever the image had there goes."""
    try:
        ctx.syscalls.unlinkat(dev_fd, "ptmx")
    except OSError as exc:
        if exc.errno != errno.ENOENT:
            raise kernel_error("remove /dev/ptmx", exc) from None
    try:
        ctx.syscalls.symlinkat("pts/ptmx", dev_fd, "ptmx")
    except OSError as exc:
        raise kernel_error("symlink /dev/ptmx -> pts/ptmx", exc) from None


def _touch(ctx: RootContext, dir_fd: int, name: str, shown: str) -> None:
    flags = os.O_CREAT | os.O_EXCL | os.O_WRONLY | os.O_NOFOLLOW
    try:
        ctx.syscalls.close(ctx.syscalls.openat(dir_fd, name, flags, 0o644))
    except OSError as exc:
        if exc.errno != errno.EEXIST:
            raise kernel_error(f"create {shown}", exc) from None


def create_device(ctx: RootContext, device: DeviceSpec, dir_fd: int, name: str) -> bool:
    """Make `device` as `name` in dir_fd, the directory of its path; True if that took a
    bind mount of the host's node."""
    if ctx.user_namespace:
        _bind_device(ctx, dir_fd, name, device)
        return True
    number = os.makedev(device.major, device.minor)
    try:
        ctx.syscalls.mknodat(dir_fd, name, device.file_type | device.mode, number)
    except OSError as exc:
        if exc.errno == errno.EEXIST:
            _check_existing(ctx, device)
            return False
        if exc.errno == errno.EPERM:
            # No CAP_MKNOD (or a device cgroup says no): fall back as runc does.
            _bind_device(ctx, dir_fd, name, device)
            return True
        raise kernel_error(f"mknod {device.path}", exc) from None
    try:
        ctx.syscalls.fchmodat(dir_fd, name, device.mode)  # mknod's mode met the umask
        if device.uid or device.gid:
            ctx.syscalls.fchownat(dir_fd, name, device.uid, device.gid)
    except OSError as exc:
        raise kernel_error(f"set owner and mode of {device.path}", exc) from None
    return False


def _check_existing(ctx: RootContext, device: DeviceSpec) -> None:
    """The spec: a file already at the path that is not the requested device is an error."""
    try:
        fd = resolve(ctx.syscalls, ctx.root_fd, device.path, nofollow=True)
        try:
            found = ctx.syscalls.fstat(fd)
        finally:
            ctx.syscalls.close(fd)
    except OSError as exc:
        raise kernel_error(f"mknod {device.path}", exc) from None
    same_type = stat.S_IFMT(found.mode) == device.file_type
    if same_type and (device.file_type == stat.S_IFIFO or found.rdev == _number(device)):
        return
    raise ContainerError(
        f"{device.field}: {device.path} already exists and is not the requested device"
    )


def _number(device: DeviceSpec) -> int:
    return os.makedev(device.major, device.minor)


def _bind_device(ctx: RootContext, dir_fd: int, name: str, device: DeviceSpec) -> None:
    what = f"bind mount {device.path} on {device.path}"
    _touch(ctx, dir_fd, name, device.path)
    try:
        fd = resolve(ctx.syscalls, ctx.root_fd, device.path, nofollow=True)
    except OSError as exc:
        raise kernel_error(what, exc) from None
    try:
        if stat.S_ISLNK(ctx.syscalls.fstat(fd).mode):
            raise ContainerError(f"{what}: {device.path} is a symlink in the image")
        ctx.syscalls.mount(device.path, fd_path(fd), None, MS_BIND, None)
    except OSError as exc:
        raise kernel_error(what, exc) from None
    finally:
        ctx.syscalls.close(fd)
