"""Copy a file tree exactly (the vfs snapshotter's prepare): every file type, hard links
within the tree, owners, modes, xattrs and times; never following a symlink.

Regular files are cloned (FICLONE: a reflink on btrfs and xfs) when the file system can,
else copied in the kernel with copy_file_range(2).
"""

from __future__ import annotations

import errno
import fcntl
import os
import stat

from capsa.store._files import CHUNK, chmod_nofollow
from capsa.store.fsops import FsOps, RealFsOps, Stat

_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_FICLONE = 0x40049409
_IGNORED_XATTR_ERRORS = (errno.ENOTSUP, errno.EOPNOTSUPP, errno.EPERM)


def copy_tree(
    source: str | os.PathLike[str], dest: str | os.PathLike[str], *, ops: FsOps | None = None
) -> None:
    """Copy the contents and attributes of directory `source` onto the existing, empty
    directory `dest`."""
    _Copier(ops or RealFsOps()).run(os.fspath(source), os.fspath(dest))


class _Copier:
    def __init__(self, ops: FsOps) -> None:
        self.ops = ops
        self.links: dict[tuple[int, int], bytes] = {}  # source inode -> path copied to
        self.dest_root = -1

    def run(self, source: str, dest: str) -> None:
        src_fd = os.open(source, _DIR_FLAGS)
        try:
            self.dest_root = os.open(dest, _DIR_FLAGS)
            try:
                root = self.ops.fstat(src_fd)
                self._tree(src_fd, self.dest_root, b"")
                self.ops.fchown(self.dest_root, root.uid, root.gid)
                self._xattrs_fd(src_fd, self.dest_root)
                os.fchmod(self.dest_root, stat.S_IMODE(root.mode))
                os.utime(self.dest_root, ns=(root.mtime_ns, root.mtime_ns))
            finally:
                os.close(self.dest_root)
        finally:
            os.close(src_fd)

    def _tree(self, src_dir: int, dst_dir: int, prefix: bytes) -> None:
        with os.scandir(src_dir) as scan:
            names = [os.fsencode(item.name) for item in scan]
        for name in names:
            st = self.ops.lstat(src_dir, name)
            mode = st.mode
            if stat.S_ISDIR(mode):
                os.mkdir(name, 0o700, dir_fd=dst_dir)
                child_src = os.open(name, _DIR_FLAGS, dir_fd=src_dir)
                try:
                    child_dst = os.open(name, _DIR_FLAGS, dir_fd=dst_dir)
                    try:
                        self._tree(child_src, child_dst, prefix + name + b"/")
                        self.ops.fchown(child_dst, st.uid, st.gid)
                        self._xattrs_fd(child_src, child_dst)
                        os.fchmod(child_dst, stat.S_IMODE(mode))
                        os.utime(child_dst, ns=(st.mtime_ns, st.mtime_ns))
                    finally:
                        os.close(child_dst)
                finally:
                    os.close(child_src)
                continue
            if stat.S_ISREG(mode):
                key = (st.dev, st.ino)
                first = self.links.get(key) if st.nlink > 1 else None
                if first is not None:
                    os.link(
                        first,
                        prefix + name,
                        src_dir_fd=self.dest_root,
                        dst_dir_fd=self.dest_root,
                        follow_symlinks=False,
                    )
                    continue
                if st.nlink > 1:
                    self.links[key] = prefix + name
                self._file(src_dir, dst_dir, name, st)
                continue
            if stat.S_ISLNK(mode):
                os.symlink(os.readlink(name, dir_fd=src_dir), name, dir_fd=dst_dir)
            elif stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
                self.ops.mknod(dst_dir, name, stat.S_IFMT(mode) | 0o600, st.rdev)
            elif stat.S_ISFIFO(mode):
                os.mkfifo(name, 0o600, dir_fd=dst_dir)
            elif stat.S_ISSOCK(mode):
                os.mknod(name, stat.S_IFSOCK | 0o600, dir_fd=dst_dir)
            else:
                continue
            self.ops.chown(dst_dir, name, st.uid, st.gid)
            self._xattrs_at(src_dir, dst_dir, name)
            if not stat.S_ISLNK(mode):
                chmod_nofollow(dst_dir, name, stat.S_IMODE(mode))
            os.utime(name, ns=(st.mtime_ns, st.mtime_ns), dir_fd=dst_dir, follow_symlinks=False)

    def _file(self, src_dir: int, dst_dir: int, name: bytes, st: Stat) -> None:
        src = os.open(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=src_dir)
        try:
            dst = os.open(
                name,
                os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC,
                0o600,
                dir_fd=dst_dir,
            )
            try:
                _copy_data(src, dst, st.size)
                self.ops.fchown(dst, st.uid, st.gid)
                os.fchmod(dst, stat.S_IMODE(st.mode))
                self._xattrs_fd(src, dst)
                os.utime(dst, ns=(st.mtime_ns, st.mtime_ns))
            finally:
                os.close(dst)
        finally:
            os.close(src)

    def _xattrs_fd(self, src: int, dst: int) -> None:
        for attr in self.ops.flistxattr(src):
            value = self.ops.fgetxattr(src, attr)
            if value is None:
                continue
            try:
                self.ops.fsetxattr(dst, attr, value)
            except OSError as error:
                if error.errno not in _IGNORED_XATTR_ERRORS:
                    raise

    def _xattrs_at(self, src_dir: int, dst_dir: int, name: bytes) -> None:
        for attr in self.ops.listxattr(src_dir, name):
            value = self.ops.getxattr(src_dir, name, attr)
            if value is None:
                continue
            try:
                self.ops.setxattr(dst_dir, name, attr, value)
            except OSError as error:
                if error.errno not in _IGNORED_XATTR_ERRORS:
                    raise


def _copy_data(src: int, dst: int, size: int) -> None:
    if size == 0:
        return
    try:
        fcntl.ioctl(dst, _FICLONE, src)
        return
    except OSError:
        pass
    copied = 0
    try:
        while True:
            count = os.copy_file_range(src, dst, 1 << 30)
            if not count:
                return
            copied += count
    except OSError as error:
        if copied or error.errno not in (errno.EXDEV, errno.ENOSYS, errno.EINVAL, errno.EOPNOTSUPP):
            raise
    while chunk := os.read(src, CHUNK):
        view = memoryview(chunk)
        while view:
            view = view[os.write(dst, view) :]
