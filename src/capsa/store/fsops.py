"""The file operations that need privilege (device nodes, ownership, trusted and security
xattrs), behind one small interface so unpack, diff and copy can be tested without root.

`RealFsOps` calls the kernel. `RecordingFsOps` keeps devices, owners and xattrs in a
table keyed by inode and makes a placeholder regular file for each node, so the rest of
the file tree is real and unprivileged. Every operation works on an entry relative to a
directory descriptor (or on an open descriptor) and never follows a final symlink.
"""

from __future__ import annotations

import errno
import os
import stat as stat_module
from typing import Protocol

AT_FDCWD = -100


class Stat:
    """What the store needs of lstat(2)."""

    __slots__ = ("dev", "gid", "ino", "mode", "mtime_ns", "nlink", "rdev", "size", "uid")

    def __init__(
        self,
        mode: int,
        uid: int,
        gid: int,
        size: int,
        mtime_ns: int,
        rdev: int,
        dev: int,
        ino: int,
        nlink: int,
    ) -> None:
        self.mode = mode
        self.uid = uid
        self.gid = gid
        self.size = size
        self.mtime_ns = mtime_ns
        self.rdev = rdev
        self.dev = dev
        self.ino = ino
        self.nlink = nlink

    @classmethod
    def of(cls, st: os.stat_result) -> Stat:
        return cls(
            st.st_mode,
            st.st_uid,
            st.st_gid,
            st.st_size,
            st.st_mtime_ns,
            st.st_rdev,
            st.st_dev,
            st.st_ino,
            st.st_nlink,
        )

    @property
    def is_dir(self) -> bool:
        return stat_module.S_ISDIR(self.mode)

    @property
    def is_symlink(self) -> bool:
        return stat_module.S_ISLNK(self.mode)

    @property
    def is_whiteout(self) -> bool:
        """overlayfs's whiteout: a character device 0:0."""
        return stat_module.S_ISCHR(self.mode) and self.rdev == 0

    def __repr__(self) -> str:
        return f"Stat(mode={self.mode:#o}, uid={self.uid}, gid={self.gid}, size={self.size})"


def _at(dir_fd: int, name: bytes) -> bytes:
    """A path naming `name` inside the directory dir_fd without following `name` itself
    (the /proc magic link resolves to exactly that directory)."""
    if dir_fd == AT_FDCWD:
        return name
    return b"/proc/self/fd/%d/%s" % (dir_fd, name)


class FsOps(Protocol):
    def lstat(self, dir_fd: int, name: bytes) -> Stat: ...
    def fstat(self, fd: int) -> Stat: ...
    def mknod(self, dir_fd: int, name: bytes, mode: int, device: int) -> None: ...
    def chown(self, dir_fd: int, name: bytes, uid: int, gid: int) -> None: ...
    def fchown(self, fd: int, uid: int, gid: int) -> None: ...
    def setxattr(self, dir_fd: int, name: bytes, attr: bytes, value: bytes) -> None: ...
    def fsetxattr(self, fd: int, attr: bytes, value: bytes) -> None: ...
    def listxattr(self, dir_fd: int, name: bytes) -> list[bytes]: ...
    def flistxattr(self, fd: int) -> list[bytes]: ...
    def getxattr(self, dir_fd: int, name: bytes, attr: bytes) -> bytes | None: ...
    def fgetxattr(self, fd: int, attr: bytes) -> bytes | None: ...


_NO_XATTR = (errno.ENODATA, errno.ENOTSUP, errno.EOPNOTSUPP)


class RealFsOps:
    """The kernel's operations."""

    def lstat(self, dir_fd: int, name: bytes) -> Stat:
        return Stat.of(
            os.stat(name, dir_fd=None if dir_fd == AT_FDCWD else dir_fd, follow_symlinks=False)
        )

    def fstat(self, fd: int) -> Stat:
        return Stat.of(os.fstat(fd))

    def mknod(self, dir_fd: int, name: bytes, mode: int, device: int) -> None:
        os.mknod(name, mode, device, dir_fd=None if dir_fd == AT_FDCWD else dir_fd)

    def chown(self, dir_fd: int, name: bytes, uid: int, gid: int) -> None:
        os.chown(
            name,
            uid,
            gid,
            dir_fd=None if dir_fd == AT_FDCWD else dir_fd,
            follow_symlinks=False,
        )

    def fchown(self, fd: int, uid: int, gid: int) -> None:
        os.fchown(fd, uid, gid)

    def setxattr(self, dir_fd: int, name: bytes, attr: bytes, value: bytes) -> None:
        os.setxattr(_at(dir_fd, name), attr, value, follow_symlinks=False)

    def fsetxattr(self, fd: int, attr: bytes, value: bytes) -> None:
        os.setxattr(fd, attr, value)

    def listxattr(self, dir_fd: int, name: bytes) -> list[bytes]:
        try:
            names = os.listxattr(_at(dir_fd, name), follow_symlinks=False)
        except OSError as error:
            if error.errno in _NO_XATTR:
                return []
            raise
        return [os.fsencode(attr) for attr in names]

    def flistxattr(self, fd: int) -> list[bytes]:
        try:
            names = os.listxattr(fd)
        except OSError as error:
            if error.errno in _NO_XATTR:
                return []
            raise
        return [os.fsencode(attr) for attr in names]

    def getxattr(self, dir_fd: int, name: bytes, attr: bytes) -> bytes | None:
        try:
            return os.getxattr(_at(dir_fd, name), attr, follow_symlinks=False)
        except OSError as error:
            if error.errno in _NO_XATTR:
                return None
            raise

    def fgetxattr(self, fd: int, attr: bytes) -> bytes | None:
        try:
            return os.getxattr(fd, attr)
        except OSError as error:
            if error.errno in _NO_XATTR:
                return None
            raise


class RecordingFsOps:
    """A fake for unit tests: nodes, owners and xattrs live in tables keyed by inode.

    A device node is a placeholder regular file (mode 0600) whose type and number are
    recorded; lstat reports the recorded type, owner and device. Every xattr is virtual.
    Each recorded inode is pinned by an O_PATH descriptor so that its number is not reused
    by a later file while the fake lives (call `close`).
    """

    def __init__(self) -> None:
        self.nodes: dict[tuple[int, int], tuple[int, int]] = {}  # inode -> (type bits, rdev)
        self.owners: dict[tuple[int, int], tuple[int, int]] = {}
        self.xattrs: dict[tuple[int, int], dict[bytes, bytes]] = {}
        self.calls: list[tuple[str, bytes | int]] = []
        self.fail_mknod: int | None = None  # errno mknod fails with, to act unprivileged
        self._pins: dict[tuple[int, int], int] = {}

    def close(self) -> None:
        for fd in self._pins.values():
            os.close(fd)
        self._pins.clear()

    def _pin_at(self, dir_fd: int, name: bytes) -> tuple[int, int]:
        fd = os.open(name, os.O_PATH | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=self._dir(dir_fd))
        return self._pin(fd)

    def _pin(self, fd: int) -> tuple[int, int]:
        key = self._key(os.fstat(fd))
        if key in self._pins:
            os.close(fd)
        else:
            self._pins[key] = fd
        return key

    def _pin_fd(self, fd: int) -> tuple[int, int]:
        return self._pin(os.open(f"/proc/self/fd/{fd}", os.O_PATH | os.O_CLOEXEC))

    @staticmethod
    def _key(st: os.stat_result) -> tuple[int, int]:
        return (st.st_dev, st.st_ino)

    def _dir(self, dir_fd: int) -> int | None:
        return None if dir_fd == AT_FDCWD else dir_fd

    def _raw(self, dir_fd: int, name: bytes) -> os.stat_result:
        return os.stat(name, dir_fd=self._dir(dir_fd), follow_symlinks=False)

    def _cook(self, st: os.stat_result) -> Stat:
        result = Stat.of(st)
        key = self._key(st)
        node = self.nodes.get(key)
        if node is not None:
            result.mode = node[0] | stat_module.S_IMODE(st.st_mode)
            result.rdev = node[1]
            result.size = 0
        owner = self.owners.get(key)
        if owner is not None:
            result.uid, result.gid = owner
        return result

    def lstat(self, dir_fd: int, name: bytes) -> Stat:
        return self._cook(self._raw(dir_fd, name))

    def fstat(self, fd: int) -> Stat:
        return self._cook(os.fstat(fd))

    def mknod(self, dir_fd: int, name: bytes, mode: int, device: int) -> None:
        self.calls.append(("mknod", name))
        if self.fail_mknod is not None:
            raise OSError(self.fail_mknod, os.strerror(self.fail_mknod))
        if os.path.lexists(_at(dir_fd, name)):
            raise FileExistsError(errno.EEXIST, "File exists", name)
        fd = os.open(
            name,
            os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC,
            0o600,
            dir_fd=self._dir(dir_fd),
        )
        try:
            os.fchmod(fd, stat_module.S_IMODE(mode))
            self.nodes[self._pin_fd(fd)] = (stat_module.S_IFMT(mode), device)
        finally:
            os.close(fd)

    def chown(self, dir_fd: int, name: bytes, uid: int, gid: int) -> None:
        self.owners[self._pin_at(dir_fd, name)] = (uid, gid)

    def fchown(self, fd: int, uid: int, gid: int) -> None:
        self.owners[self._pin_fd(fd)] = (uid, gid)

    def setxattr(self, dir_fd: int, name: bytes, attr: bytes, value: bytes) -> None:
        self.xattrs.setdefault(self._pin_at(dir_fd, name), {})[attr] = value

    def fsetxattr(self, fd: int, attr: bytes, value: bytes) -> None:
        self.xattrs.setdefault(self._pin_fd(fd), {})[attr] = value

    def listxattr(self, dir_fd: int, name: bytes) -> list[bytes]:
        return sorted(self.xattrs.get(self._key(self._raw(dir_fd, name)), {}))

    def flistxattr(self, fd: int) -> list[bytes]:
        return sorted(self.xattrs.get(self._key(os.fstat(fd)), {}))

    def getxattr(self, dir_fd: int, name: bytes, attr: bytes) -> bytes | None:
        return self.xattrs.get(self._key(self._raw(dir_fd, name)), {}).get(attr)

    def fgetxattr(self, fd: int, attr: bytes) -> bytes | None:
        return self.xattrs.get(self._key(os.fstat(fd)), {}).get(attr)

    # -- for tests ---------------------------------------------------------------------

    def lstat_path(self, path: str | bytes) -> Stat:
        return self.lstat(AT_FDCWD, os.fsencode(path))

    def xattrs_of(self, path: str | bytes) -> dict[bytes, bytes]:
        return dict(self.xattrs.get(self._key(os.lstat(path)), {}))
