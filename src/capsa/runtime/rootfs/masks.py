"""What happens once the rootfs is `/` (finalize_rootfs): tmpfs and /dev mounts that
asked for `ro` become read-only, `linux.readonlyPaths` are bound onto themselves and
made read-only, `linux.maskedPaths` are covered (/dev/null over a file, an empty
read-only tmpfs over a directory), and `root.readonly` makes `/` read-only.

Paths are checked with openat2(RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS) on a descriptor
of `/` and then mounted by name. After pivot_root that is safe: `/` is the container's,
so neither `..` nor a symlink can leave it, the check refused magic links, and no
container process runs yet that could swap a path between the check and the mount.
It also works when the container has no /proc (where /proc/self/fd/N would not).
"""

from __future__ import annotations

import errno
import os
import stat

from capsa.errors import ContainerError
from capsa.kernel.mounts import (
    MS_BIND,
    MS_NODEV,
    MS_NOEXEC,
    MS_NOSUID,
    MS_RDONLY,
    MS_REC,
    MS_REMOUNT,
)
from capsa.runtime.rootfs.failure import kernel_error
from capsa.runtime.rootfs.options import ATIME_FLAGS, statvfs_to_mount_flags
from capsa.runtime.rootfs.safe_path import path_error, resolve
from capsa.runtime.rootfs.spec import FinalSpec

TYPE_CHECKING = False
if TYPE_CHECKING:
    from capsa.kernel.syscalls.protocol import Syscalls

NULL_DEVICE = os.makedev(1, 3)
# What looking a path up answers when there is nothing there to protect.
MISSING = (errno.ENOENT, errno.ENOTDIR)
# Flags a read-only remount keeps from the mount it changes (runc keeps the first three;
# the atime family is locked in a user namespace, and keeping it is harmless elsewhere).
KEPT_FLAGS = MS_NOSUID | MS_NODEV | MS_NOEXEC | ATIME_FLAGS


def finalize(syscalls: Syscalls, final: FinalSpec) -> None:
    # Written out in one function: it runs once, in a process that has run none of it
    # before, where each function's first call costs more than its body.
    try:
        root_fd = syscalls.open("/", os.O_PATH | os.O_DIRECTORY)
    except OSError as exc:
        raise kernel_error("open /", exc) from None
    try:
        for mount in final.remount_readonly:
            flags = mount.options.flags | MS_REMOUNT | MS_RDONLY
            try:
                syscalls.mount(None, mount.destination, None, flags, None)
            except OSError as exc:
                what = f"remount {mount.destination} read-only ({mount.field})"
                raise kernel_error(what, exc) from None
        for path in final.readonly_paths:
            # Bound onto itself, then made read-only keeping the flags it has.
            fd = syscalls.try_open_in_root(root_fd, path, os.O_PATH)
            if fd < 0:
                if -fd in MISSING:
                    continue  # nothing to protect
                what = f"make {path} read-only (linux.readonlyPaths)"
                raise kernel_error(what, path_error(-fd, path))
            try:
                kept = statvfs_to_mount_flags(syscalls.fstatvfs(fd)) & KEPT_FLAGS
                syscalls.mount(path, path, None, MS_BIND | MS_REC, None)
                syscalls.mount(None, path, None, MS_BIND | MS_REMOUNT | MS_RDONLY | kept, None)
            except OSError as exc:
                raise kernel_error(f"make {path} read-only (linux.readonlyPaths)", exc) from None
            finally:
                syscalls.close(fd)
        null = ""  # /dev/null, checked on first use
        for path in final.masked_paths:
            # /dev/null over a file, an empty read-only tmpfs over a directory.
            fd = syscalls.try_open_in_root(root_fd, path, os.O_PATH)
            if fd < 0:
                if -fd in MISSING:
                    continue  # nothing to protect
                raise kernel_error(f"mask {path} (linux.maskedPaths)", path_error(-fd, path))
            try:
                directory = stat.S_ISDIR(syscalls.fstat(fd).mode)
            except OSError as exc:
                raise kernel_error(f"mask {path} (linux.maskedPaths)", exc) from None
            finally:
                syscalls.close(fd)
            try:
                if directory:
                    syscalls.mount("tmpfs", path, "tmpfs", MS_RDONLY, None)
                else:
                    if not null:
                        null = _null_device(syscalls, root_fd)
                    syscalls.mount(null, path, None, MS_BIND, None)
            except OSError as exc:
                raise kernel_error(f"mask {path} (linux.maskedPaths)", exc) from None
        if final.readonly:
            flags = statvfs_to_mount_flags(syscalls.fstatvfs(root_fd)) & KEPT_FLAGS
            try:
                syscalls.mount(None, "/", None, MS_BIND | MS_REMOUNT | MS_RDONLY | flags, None)
            except OSError as exc:
                raise kernel_error("remount / read-only (root.readonly)", exc) from None
    finally:
        syscalls.close(root_fd)


def _null_device(syscalls: Syscalls, root_fd: int) -> str:
    """/dev/null of the container, once we know it is the null device: binding anything
    else over a masked path would unmask it (the CVE-2025-31133 class)."""
    try:
        fd = resolve(syscalls, root_fd, "/dev/null", nofollow=True)
        try:
            found = syscalls.fstat(fd)
        finally:
            syscalls.close(fd)
    except OSError as exc:
        raise kernel_error("mask paths: /dev/null", exc) from None
    if not stat.S_ISCHR(found.mode) or found.rdev != NULL_DEVICE:
        raise ContainerError("mask paths: /dev/null in the container is not the null device")
    return "/dev/null"
