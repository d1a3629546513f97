"""The `Syscalls` protocol: the kernel operations the runtime performs while it builds a
container, behind one interface so mount logic can be tested without root.

`RealSyscalls` performs them. `RecordingSyscalls` records each call (name and arguments)
and can be told to fail a given call, for unit tests (youki's syscall/test.rs).
"""

from __future__ import annotations

import errno as errno_module
import os
from dataclasses import dataclass, field
from typing import Any, Protocol

from capsa.kernel import mounts, namespaces, paths, process


class Syscalls(Protocol):
    def mount(self, source: str | None, target: str, fstype: str | None, flags: int,
              data: str | None) -> None: ...
    def umount2(self, target: str, flags: int) -> None: ...
    def pivot_root(self, new_root: str, put_old: str) -> None: ...
    def chdir(self, path: str) -> None: ...
    def fchdir(self, fd: int) -> None: ...
    def chroot(self, path: str) -> None: ...
    def mkdir(self, path: str, mode: int) -> None: ...
    def mknod(self, path: str, mode: int, device: int) -> None: ...
    def symlink(self, target: str, link: str) -> None: ...
    def chown(self, path: str, uid: int, gid: int) -> None: ...
    def chmod(self, path: str, mode: int) -> None: ...
    def open(self, path: str, flags: int, mode: int = 0o777) -> int: ...
    def open_in_root(self, root_fd: int, path: str, flags: int, mode: int = 0) -> int: ...
    def close(self, fd: int) -> None: ...
    def write_file(self, path: str, data: str) -> None: ...
    def sethostname(self, name: str) -> None: ...
    def setdomainname(self, name: str) -> None: ...
    def unshare(self, flags: int) -> None: ...
    def setns(self, fd: int, nstype: int) -> None: ...


class RealSyscalls:
    """Performs each operation on the running kernel."""

    def mount(self, source: str | None, target: str, fstype: str | None, flags: int,
              data: str | None) -> None:
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


@dataclass
class Call:
    name: str
    args: tuple[Any, ...]


@dataclass
class RecordingSyscalls:
    """A fake kernel: records calls in order, hands out fake descriptors, and fails the
    calls named in `fail` with the given errno."""

    calls: list[Call] = field(default_factory=list)
    fail: dict[str, int] = field(default_factory=dict)
    opened: dict[int, str] = field(default_factory=dict)
    _next_fd: int = 100

    def _record(self, name: str, *args: Any) -> None:
        self.calls.append(Call(name, args))
        if name in self.fail:
            code = self.fail[name]
            raise OSError(code, f"{name}: {os.strerror(code)}")

    def named(self, name: str) -> list[Call]:
        return [call for call in self.calls if call.name == name]

    def mount(self, source: str | None, target: str, fstype: str | None, flags: int,
              data: str | None) -> None:
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
        return self._new_fd(path)

    def open_in_root(self, root_fd: int, path: str, flags: int, mode: int = 0) -> int:
        self._record("open_in_root", root_fd, path, flags, mode)
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
