"""`RecordingSyscalls`: a fake kernel for unit tests. It records each call (name and
arguments) and can be told to fail a given call (youki's syscall/test.rs).

Never imported on a container start, so it may use dataclasses.
"""

from __future__ import annotations

import errno as errno_module
import os
import stat as stat_module
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from capsa.kernel.syscalls import FileStat


@dataclass
class Call:
    name: str
    args: tuple[Any, ...]


class FakeNode:
    """One file in RecordingSyscalls' optional model of the file tree."""

    __slots__ = ("mode", "rdev", "target")

    def __init__(self, mode: int, rdev: int = 0, target: str = "") -> None:
        self.mode = mode  # st_mode: S_IFDIR, S_IFREG, S_IFLNK, S_IFCHR... and permission bits
        self.rdev = rdev
        self.target = target  # what a symlink says

    def __repr__(self) -> str:
        return f"FakeNode({self.mode:#o}, rdev={self.rdev}, target={self.target!r})"


_S_IFDIR = stat_module.S_IFDIR


@dataclass
class RecordingSyscalls:
    """A fake kernel: records calls in order, hands out fake descriptors, and fails the
    calls named in `fail` with the given errno (or those `fail_if` matches: call name,
    predicate over the call's arguments, errno).

    Without a `tree` every path exists and is a directory. With one (a dict of absolute
    path -> FakeNode, filled with add_dir/add_file/add_symlink/add_node) opens resolve
    symlinks against it (clamped to the root for open_in_root, as openat2 RESOLVE_IN_ROOT
    does), fail with ENOENT/ENOTDIR/ELOOP like the kernel, and the *at() calls create and
    remove entries. `contents` answers read_file, `mount_flags` answers fstatvfs (the
    ST_* flags of the longest matching path prefix). Mounts never change the tree.
    """

    calls: list[Call] = field(default_factory=list)
    fail: dict[str, int] = field(default_factory=dict)
    opened: dict[int, str] = field(default_factory=dict)
    _next_fd: int = 100
    fail_if: list[tuple[str, Callable[..., bool], int]] = field(default_factory=list)
    tree: dict[str, FakeNode] | None = None
    contents: dict[str, str] = field(default_factory=dict)
    mount_flags: dict[str, int] = field(default_factory=dict)

    def _record(self, name: str, *args: Any) -> None:
        self.calls.append(Call(name, args))
        code = self.fail.get(name)
        if code is None:
            for fail_name, predicate, errno in self.fail_if:
                if fail_name == name and predicate(*args):
                    code = errno
                    break
        if code is not None:
            raise OSError(code, f"{name}: {os.strerror(code)}")

    def named(self, name: str) -> list[Call]:
        return [call for call in self.calls if call.name == name]

    def path_of(self, target: str | int) -> str:
        """What a descriptor (or a /proc/self/fd/N path) named when it was opened."""
        if isinstance(target, int):
            return self.opened[target]
        prefix = "/proc/self/fd/"
        if target.startswith(prefix) and target[len(prefix) :].isdigit():
            return self.opened[int(target[len(prefix) :])]
        return target

    # -- the model of the file tree ------------------------------------------------------

    def add_node(self, path: str, node: FakeNode) -> None:
        if self.tree is None:
            self.tree = {}
        path = "/" + path.strip("/")
        parent = path.rsplit("/", 1)[0] or "/"
        if parent != path and parent not in self.tree:
            self.add_node(parent, FakeNode(_S_IFDIR | 0o755))
        self.tree[path] = node

    def add_dir(self, path: str, mode: int = 0o755) -> None:
        self.add_node(path, FakeNode(_S_IFDIR | mode))

    def add_file(self, path: str, mode: int = 0o644) -> None:
        self.add_node(path, FakeNode(stat_module.S_IFREG | mode))

    def add_symlink(self, path: str, target: str) -> None:
        self.add_node(path, FakeNode(stat_module.S_IFLNK | 0o777, target=target))

    def _lookup(self, path: str) -> FakeNode:
        assert self.tree is not None
        node = self.tree.get("/" + path.strip("/"))
        if node is None:
            raise OSError(errno_module.ENOENT, os.strerror(errno_module.ENOENT), path)
        return node

    def _resolve(self, root: str, path: str, follow_last: bool) -> str:
        """Resolve path under root the way RESOLVE_IN_ROOT does: `..` and absolute
        symlinks stop at root."""
        root = root.rstrip("/")
        pending = [part for part in path.split("/") if part and part != "."]
        current: list[str] = []
        hops = 0
        while pending:
            name = pending.pop(0)
            if name == "..":
                if current:
                    current.pop()
                continue
            node = self._lookup(root + "/" + "/".join([*current, name]))
            if stat_module.S_ISLNK(node.mode) and (pending or follow_last):
                hops += 1
                if hops > 40:
                    raise OSError(errno_module.ELOOP, os.strerror(errno_module.ELOOP), path)
                if node.target.startswith("/"):
                    current = []
                pending = [p for p in node.target.split("/") if p and p != "."] + pending
                continue
            if pending and not stat_module.S_ISDIR(node.mode):
                raise OSError(errno_module.ENOTDIR, os.strerror(errno_module.ENOTDIR), path)
            current.append(name)
        return (root + "/" + "/".join(current)).rstrip("/") or "/"

    def _open_tree(self, root: str, path: str, flags: int) -> int:
        resolved = self._resolve(root, path, follow_last=not flags & os.O_NOFOLLOW)
        node = self._lookup(resolved)
        if flags & os.O_DIRECTORY and not stat_module.S_ISDIR(node.mode):
            raise OSError(errno_module.ENOTDIR, os.strerror(errno_module.ENOTDIR), path)
        return self._new_fd(resolved)

    def _child(self, dir_fd: int, name: str) -> str:
        return self.opened.get(dir_fd, "").rstrip("/") + "/" + name

    def _create(self, dir_fd: int, name: str, node: FakeNode) -> None:
        if self.tree is None:
            return
        path = self._child(dir_fd, name)
        if path in self.tree:
            raise OSError(errno_module.EEXIST, os.strerror(errno_module.EEXIST), path)
        self.add_node(path, node)

    # -- the calls -----------------------------------------------------------------------

    def mount(
        self, source: str | None, target: str, fstype: str | None, flags: int, data: str | None
    ) -> None:
        self._record("mount", source, target, fstype, flags, data)

    def umount2(self, target: str, flags: int) -> None:
        self._record("umount2", target, flags)

    def pivot_root(self, new_root: str, put_old: str) -> None:
        self._record("pivot_root", new_root, put_old)

    def chdir(self, path: str) -> None:
        self._record("chdir", path)

    def fchdir(self, fd: int) -> None:
        self._record("fchdir", fd)

    def chroot(self, path: str) -> None:
        self._record("chroot", path)

    def mkdir(self, path: str, mode: int) -> None:
        self._record("mkdir", path, mode)

    def mknod(self, path: str, mode: int, device: int) -> None:
        self._record("mknod", path, mode, device)

    def symlink(self, target: str, link: str) -> None:
        self._record("symlink", target, link)

    def chown(self, path: str, uid: int, gid: int) -> None:
        self._record("chown", path, uid, gid)

    def chmod(self, path: str, mode: int) -> None:
        self._record("chmod", path, mode)

    def open(self, path: str, flags: int, mode: int = 0o777) -> int:
        self._record("open", path, flags, mode)
        if self.tree is not None:
            return self._open_tree("", path, flags)
        return self._new_fd(path)

    def open_in_root(self, root_fd: int, path: str, flags: int, mode: int = 0) -> int:
        self._record("open_in_root", root_fd, path, flags, mode)
        if self.tree is not None:
            return self._open_tree(self.opened.get(root_fd, ""), path, flags)
        if ".." in path.split("/"):
            # The real openat2(RESOLVE_IN_ROOT) clamps `..` at the root; so does the fake.
            parts: list[str] = []
            for part in path.split("/"):
                if part == "..":
                    if parts:
                        parts.pop()
                elif part and part != ".":
                    parts.append(part)
            path = "/" + "/".join(parts)
        base = self.opened.get(root_fd, "")
        return self._new_fd(base.rstrip("/") + "/" + path.lstrip("/"))

    def try_open_in_root(self, root_fd: int, path: str, flags: int, mode: int = 0) -> int:
        """open_in_root, recorded under that name, answering -errno instead of raising."""
        try:
            return self.open_in_root(root_fd, path, flags, mode)
        except OSError as exc:
            return -(exc.errno or errno_module.EIO)

    def _new_fd(self, path: str) -> int:
        fd = self._next_fd
        self._next_fd += 1
        self.opened[fd] = path
        return fd

    def close(self, fd: int) -> None:
        self._record("close", fd)
        if fd not in self.opened:
            raise OSError(errno_module.EBADF, "close: bad file descriptor")

    def write_file(self, path: str, data: str) -> None:
        self._record("write_file", path, data)

    def sethostname(self, name: str) -> None:
        self._record("sethostname", name)

    def setdomainname(self, name: str) -> None:
        self._record("setdomainname", name)

    def unshare(self, flags: int) -> None:
        self._record("unshare", flags)

    def setns(self, fd: int, nstype: int) -> None:
        self._record("setns", fd, nstype)

    def openat(self, dir_fd: int, name: str, flags: int, mode: int = 0o644) -> int:
        self._record("openat", dir_fd, name, flags, mode)
        path = self._child(dir_fd, name)
        if self.tree is not None:
            exists = path in self.tree
            if flags & os.O_CREAT and not exists:
                self.add_file(path, mode)
            elif flags & os.O_CREAT and flags & os.O_EXCL:
                raise OSError(errno_module.EEXIST, os.strerror(errno_module.EEXIST), path)
            elif not exists:
                raise OSError(errno_module.ENOENT, os.strerror(errno_module.ENOENT), path)
        return self._new_fd(path)

    def mkdirat(self, dir_fd: int, name: str, mode: int) -> None:
        self._record("mkdirat", dir_fd, name, mode)
        self._create(dir_fd, name, FakeNode(_S_IFDIR | mode))

    def mknodat(self, dir_fd: int, name: str, mode: int, device: int) -> None:
        self._record("mknodat", dir_fd, name, mode, device)
        self._create(dir_fd, name, FakeNode(mode, rdev=device))

    def symlinkat(self, target: str, dir_fd: int, name: str) -> None:
        self._record("symlinkat", target, dir_fd, name)
        self._create(dir_fd, name, FakeNode(stat_module.S_IFLNK | 0o777, target=target))

    def unlinkat(self, dir_fd: int, name: str) -> None:
        self._record("unlinkat", dir_fd, name)
        if self.tree is not None:
            path = self._child(dir_fd, name)
            if stat_module.S_ISDIR(self._lookup(path).mode):
                raise OSError(errno_module.EISDIR, os.strerror(errno_module.EISDIR), path)
            del self.tree[path]

    def fchmodat(self, dir_fd: int, name: str, mode: int) -> None:
        self._record("fchmodat", dir_fd, name, mode)
        if self.tree is not None:
            node = self._lookup(self._child(dir_fd, name))
            node.mode = stat_module.S_IFMT(node.mode) | mode

    def fchownat(self, dir_fd: int, name: str, uid: int, gid: int) -> None:
        self._record("fchownat", dir_fd, name, uid, gid)

    def fstat(self, fd: int) -> FileStat:
        self._record("fstat", fd)
        if self.tree is None:
            return FileStat(_S_IFDIR | 0o755)
        node = self._lookup(self.opened[fd])
        return FileStat(node.mode, node.rdev)

    def stat(self, path: str) -> FileStat:
        self._record("stat", path)
        if self.tree is None:
            return FileStat(_S_IFDIR | 0o755)
        node = self._lookup(self._resolve("", path, follow_last=True))
        return FileStat(node.mode, node.rdev)

    def fstatvfs(self, fd: int) -> int:
        self._record("fstatvfs", fd)
        path = self.opened[fd]
        best, flags = -1, 0
        for prefix, value in self.mount_flags.items():
            inside = path == prefix or path.startswith(prefix.rstrip("/") + "/")
            if inside and len(prefix) > best:
                best, flags = len(prefix), value
        return flags

    def readlink(self, path: str) -> str:
        self._record("readlink", path)
        prefix = "/proc/self/fd/"
        if path.startswith(prefix):
            number, _, rest = path[len(prefix) :].partition("/")
            if not number.isdigit() or int(number) not in self.opened:
                raise OSError(errno_module.ENOENT, os.strerror(errno_module.ENOENT), path)
            if not rest:
                return self.opened[int(number)]
            path = self.opened[int(number)].rstrip("/") + "/" + rest
        if self.tree is not None:
            node = self._lookup(path)
            if stat_module.S_ISLNK(node.mode):
                return node.target
        raise OSError(errno_module.EINVAL, os.strerror(errno_module.EINVAL), path)

    def read_file(self, path: str) -> str:
        self._record("read_file", path)
        try:
            return self.contents[path]
        except KeyError:
            raise OSError(errno_module.ENOENT, os.strerror(errno_module.ENOENT), path) from None

    def mount_setattr(
        self, dir_fd: int, path: str, flags: int, attr_set: int, attr_clr: int, propagation: int
    ) -> None:
        self._record("mount_setattr", dir_fd, path, flags, attr_set, attr_clr, propagation)
