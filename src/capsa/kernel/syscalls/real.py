"""`RealSyscalls`: the `Syscalls` protocol performed on the running kernel.

Imported on every container start, so it imports only what it calls: os, struct, ctypes
and the capsa.kernel modules.
"""

from __future__ import annotations

import ctypes
import os
import struct

from capsa.kernel import mounts, namespaces, paths, process
from capsa.kernel._libc import c_syscall, check
from capsa.kernel.syscalls import FileStat

# mount_setattr(2) has the same number on every architecture capsa runs on (asm-generic).
_MOUNT_SETATTR = 442


class RealSyscalls:
    """Performs each operation on the running kernel."""

    def mount(
        self, source: str | None, target: str, fstype: str | None, flags: int, data: str | None
    ) -> None:
        mounts.mount(source, target, fstype, flags, data)

    def umount2(self, target: str, flags: int) -> None:
        mounts.umount2(target, flags)

    def pivot_root(self, new_root: str, put_old: str) -> None:
        mounts.pivot_root(new_root, put_old)

    def chdir(self, path: str) -> None:
        os.chdir(path)

    def fchdir(self, fd: int) -> None:
        os.fchdir(fd)

    def chroot(self, path: str) -> None:
        os.chroot(path)

    def mkdir(self, path: str, mode: int) -> None:
        os.mkdir(path, mode)

    def mknod(self, path: str, mode: int, device: int) -> None:
        os.mknod(path, mode, device)

    def symlink(self, target: str, link: str) -> None:
        os.symlink(target, link)

    def chown(self, path: str, uid: int, gid: int) -> None:
        os.chown(path, uid, gid, follow_symlinks=False)

    def chmod(self, path: str, mode: int) -> None:
        os.chmod(path, mode)

    def open(self, path: str, flags: int, mode: int = 0o777) -> int:
        return os.open(path, flags | os.O_CLOEXEC, mode)

    def open_in_root(self, root_fd: int, path: str, flags: int, mode: int = 0) -> int:
        return paths.open_in_root(root_fd, path, flags, mode)

    def close(self, fd: int) -> None:
        os.close(fd)

    def write_file(self, path: str, data: str) -> None:
        fd = os.open(path, os.O_WRONLY | os.O_CLOEXEC)
        try:
            os.write(fd, data.encode())
        finally:
            os.close(fd)

    def sethostname(self, name: str) -> None:
        process.sethostname(name)

    def setdomainname(self, name: str) -> None:
        process.setdomainname(name)

    def unshare(self, flags: int) -> None:
        namespaces.unshare(flags)

    def setns(self, fd: int, nstype: int) -> None:
        namespaces.setns(fd, nstype)

    def openat(self, dir_fd: int, name: str, flags: int, mode: int = 0o644) -> int:
        return os.open(name, flags | os.O_CLOEXEC, mode, dir_fd=dir_fd)

    def mkdirat(self, dir_fd: int, name: str, mode: int) -> None:
        os.mkdir(name, mode, dir_fd=dir_fd)

    def mknodat(self, dir_fd: int, name: str, mode: int, device: int) -> None:
        os.mknod(name, mode, device, dir_fd=dir_fd)

    def symlinkat(self, target: str, dir_fd: int, name: str) -> None:
        os.symlink(target, name, dir_fd=dir_fd)

    def unlinkat(self, dir_fd: int, name: str) -> None:
        os.unlink(name, dir_fd=dir_fd)

    def fchmodat(self, dir_fd: int, name: str, mode: int) -> None:
        os.chmod(name, mode, dir_fd=dir_fd)

    def fchownat(self, dir_fd: int, name: str, uid: int, gid: int) -> None:
        os.chown(name, uid, gid, dir_fd=dir_fd, follow_symlinks=False)

    def fstat(self, fd: int) -> FileStat:
        result = os.fstat(fd)
        return FileStat(result.st_mode, result.st_rdev)

    def stat(self, path: str) -> FileStat:
        result = os.stat(path)
        return FileStat(result.st_mode, result.st_rdev)

    def fstatvfs(self, fd: int) -> int:
        """The mount flags (statvfs f_flag, ST_*) of the mount fd is on; works on O_PATH."""
        return os.fstatvfs(fd).f_flag

    def readlink(self, path: str) -> str:
        return os.readlink(path)

    def read_file(self, path: str) -> str:
        with open(path, encoding="utf-8", errors="surrogateescape") as f:
            return f.read()

    def mount_setattr(
        self, dir_fd: int, path: str, flags: int, attr_set: int, attr_clr: int, propagation: int
    ) -> None:
        attr = struct.pack("<QQQQ", attr_set, attr_clr, propagation, 0)
        buf = ctypes.create_string_buffer(attr, len(attr))
        result = c_syscall(
            ctypes.c_long(_MOUNT_SETATTR),
            ctypes.c_int(dir_fd),
            ctypes.c_char_p(path.encode()),
            ctypes.c_uint(flags),
            buf,
            ctypes.c_size_t(len(attr)),
        )
        check(int(result), "mount_setattr", path)
