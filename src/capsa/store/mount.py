"""Perform (and undo) the mounts a snapshotter returns, as containerd's `mount.All`.

Options split into mount flags (ro, rbind, nosuid...) and file-system data. A bind mount
is made read-only by a second, remounting call (the kernel ignores MS_RDONLY on the
first). An overlay whose data would not fit in one page (the mount(2) limit) is mounted
with its lowerdirs relative to their common directory, from a child process that moved
there (the working directory is the process's, so not ours to change).
"""

from __future__ import annotations

import errno
import os
from collections.abc import Sequence

from capsa.errors import InvalidArgument
from capsa.kernel.mounts import (
    MNT_DETACH,
    MS_BIND,
    MS_NODEV,
    MS_NOEXEC,
    MS_NOSUID,
    MS_RDONLY,
    MS_REC,
    MS_REMOUNT,
    mount,
    umount2,
)
from capsa.store.snapshots.base import Mount

_FLAGS = {
    "ro": MS_RDONLY,
    "rw": 0,
    "bind": MS_BIND,
    "rbind": MS_BIND | MS_REC,
    "nosuid": MS_NOSUID,
    "nodev": MS_NODEV,
    "noexec": MS_NOEXEC,
}
PAGE_SIZE = os.sysconf("SC_PAGE_SIZE")


def split_options(options: Sequence[str]) -> tuple[int, list[str]]:
    flags = 0
    data = []
    for option in options:
        if option in _FLAGS:
            flags |= _FLAGS[option]
        else:
            data.append(option)
    return flags, data


def mount_all(mounts: Sequence[Mount], target: str) -> None:
    """Mount each in order onto target; on failure undo the ones already made."""
    target = os.path.abspath(target)
    before = _identity(target)
    done = 0
    try:
        for item in mounts:
            _mount(item, target)
            done += 1
    except BaseException:
        # An interrupt (Ctrl-C, a killed caller) can land between a mount(2) and our
        # count of it: undo until the target is the directory it was.
        for _ in range(done + 1):
            if _identity(target) == before:
                break
            umount2(target, MNT_DETACH)
        raise


def _identity(path: str) -> tuple[int, int] | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return st.st_dev, st.st_ino


def unmount_all(target: str, *, detach: bool = False) -> int:
    """Unmount everything stacked on target; returns how many mounts went."""
    count = 0
    while True:
        try:
            umount2(target, MNT_DETACH if detach else 0)
        except OSError as error:
            if error.errno in (errno.EINVAL, errno.ENOENT):
                return count
            raise
        count += 1


def _mount(item: Mount, target: str) -> None:
    flags, data = split_options(item.options)
    if flags & MS_BIND:
        mount(item.source, target, None, flags & (MS_BIND | MS_REC), None)
        extra = flags & ~(MS_BIND | MS_REC)
        if extra:
            try:
                mount(None, target, None, MS_BIND | MS_REMOUNT | extra, None)
            except BaseException:
                umount2(target, MNT_DETACH)
                raise
        return
    text = ",".join(data)
    if item.type == "overlay" and len(text) >= PAGE_SIZE:
        _mount_compact(item, target, flags, data)
        return
    mount(item.source, target, item.type, flags, text or None)


def _mount_compact(item: Mount, target: str, flags: int, data: list[str]) -> None:
    lowers = item.option("lowerdir")
    if lowers is None:
        raise InvalidArgument(f"overlay options are longer than a page ({PAGE_SIZE} bytes)")
    paths = lowers.split(":")
    base = os.path.commonpath([os.path.dirname(path) for path in paths])
    relative = ":".join(os.path.relpath(path, base) for path in paths)
    data = [f"lowerdir={relative}" if d.startswith("lowerdir=") else d for d in data]
    text = ",".join(data)
    if len(text) >= PAGE_SIZE:
        raise InvalidArgument(
            f"overlay of {len(paths)} layers: options are longer than a page even with "
            "relative paths",
            hint="squash the image",
        )
    pid = os.fork()
    if pid == 0:  # pragma: no cover - runs in the child
        code = 0
        try:
            os.chdir(base)
            mount(item.source, target, item.type, flags, text)
        except OSError as error:
            code = error.errno or 1
        except BaseException:
            code = 255
        os._exit(code)
    _, status = os.waitpid(pid, 0)
    code = os.waitstatus_to_exitcode(status)
    if code:
        raise OSError(code, f"mount overlay: {os.strerror(code)}", target)
