"""`RealSyscalls`: the `Syscalls` protocol performed on the running kernel.

Imported on every container start, so it imports only what it calls: os, struct, capsa.ffi
and the capsa.kernel modules. Operations that are a plain function already (os.close,
capsa.kernel.mounts.mount...) are that function, as static methods: a container start
makes a couple of hundred of these calls, and a wrapper around each costs.
"""

from __future__ import annotations

import os
import struct

from capsa import ffi
from capsa.kernel import mounts, namespaces, paths, process
from capsa.kernel._libc import check, syscall_function
from capsa.kernel.syscalls import FileStat

# mount_setattr(2) has the same number on every architecture capsa runs on (asm-generic).
_MOUNT_SETATTR = 442
# mount_setattr(dirfd, path, flags, struct mount_attr *attr, size); the struct is passed
# as bytes, which the kernel only reads.
_c_mount_setattr = syscall_function(ffi.c_int, ffi.c_char_p, ffi.c_uint, ffi.c_char_p, ffi.c_size_t)
_mount_attr = struct.Struct("<QQQQ").pack  # attr_set, attr_clr, propagation, userns_fd
_O_CLOEXEC = os.O_CLOEXEC
_O_READ = os.O_RDONLY | os.O_CLOEXEC


class RealSyscalls:
    """Performs each operation on the running kernel."""

    mount = staticmethod(mounts.mount)
    umount2 = staticmethod(mounts.umount2)
    pivot_root = staticmethod(mounts.pivot_root)
    chdir = staticmethod(os.chdir)
    fchdir = staticmethod(os.fchdir)
    chroot = staticmethod(os.chroot)
    mkdir = staticmethod(os.mkdir)
    mknod = staticmethod(os.mknod)
    symlink = staticmethod(os.symlink)
    chmod = staticmethod(os.chmod)
    open_in_root = staticmethod(paths.open_in_root)
    try_open_in_root = staticmethod(paths.try_open_in_root)
    close = staticmethod(os.close)
    readlink = staticmethod(os.readlink)
    sethostname = staticmethod(process.sethostname)
    setdomainname = staticmethod(process.setdomainname)
    unshare = staticmethod(namespaces.unshare)
    setns = staticmethod(namespaces.setns)

    def chown(self, path: str, uid: int, gid: int) -> None:
        os.chown(path, uid, gid, follow_symlinks=False)

    def open(self, path: str, flags: int, mode: int = 0o777) -> int:
        return os.open(path, flags | _O_CLOEXEC, mode)

    def write_file(self, path: str, data: str) -> None:
        fd = os.open(path, os.O_WRONLY | os.O_CLOEXEC)
        try:
            os.write(fd, data.encode())
        finally:
            os.close(fd)

    def openat(self, dir_fd: int, name: str, flags: int, mode: int = 0o644) -> int:
        return os.open(name, flags | _O_CLOEXEC, mode, dir_fd=dir_fd)

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

    def read_file(self, path: str) -> str:
        """The file as text (UTF-8, undecodable bytes kept as surrogates), with universal
        newlines, as open(path).read() gives it; without the io machinery."""
        fd = os.open(path, _O_READ)
        try:
            chunks = []
            while chunk := os.read(fd, 16384):
                chunks.append(chunk)
        finally:
            os.close(fd)
        text = b"".join(chunks).decode("utf-8", "surrogateescape")
        if "\r" in text:
            text = text.replace("\r\n", "\n").replace("\r", "\n")
        return text

    def mount_setattr(
        self, dir_fd: int, path: str, flags: int, attr_set: int, attr_clr: int, propagation: int
    ) -> None:
        attr = _mount_attr(attr_set, attr_clr, propagation, 0)
        result = _c_mount_setattr(_MOUNT_SETATTR, dir_fd, path.encode(), flags, attr, len(attr))
        if result == -1:
            check(result, "mount_setattr", path)
