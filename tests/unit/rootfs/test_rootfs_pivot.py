"""Entering the rootfs: pivot_root, the MS_MOVE + chroot fallback, root propagation."""

from __future__ import annotations

import errno
import os
from typing import Any

import pytest
from rootfs_fakes import BUNDLE, ROOT, leaked_fds, make_fake, make_spec, mounts, names

from capsa.errors import ContainerError
from capsa.kernel.mounts import (
    MNT_DETACH,
    MS_MOVE,
    MS_PRIVATE,
    MS_REC,
    MS_SHARED,
    MS_SLAVE,
    MS_UNBINDABLE,
)
from capsa.kernel.syscalls.recording import Call, RecordingSyscalls
from capsa.runtime.rootfs import prepare_rootfs

RAMFS_MOUNTINFO = """\
1 0 0:1 / / rw - rootfs rootfs rw
22 1 0:21 / /proc rw,relatime - proc proc rw
23 1 0:22 / /sys rw,relatime - sysfs sysfs rw
24 1 0:23 / /bundle/rootfs rw - ext4 /dev/vda rw
25 24 0:24 / /bundle/rootfs/proc rw - proc proc rw
"""


def run(fake: RecordingSyscalls | None = None, **kw: Any) -> RecordingSyscalls:
    fake = fake or make_fake()
    linux = {k: kw.pop(k) for k in list(kw) if k == "rootfsPropagation"}
    spec = make_spec({"destination": "/proc", "type": "proc", "source": "proc"}, **linux)
    prepare_rootfs(spec, BUNDLE, fake, user_namespace=False, cgroup_namespace=False, **kw)
    assert not leaked_fds(fake)
    return fake


def tail(fake: RecordingSyscalls) -> list[Call]:
    """The calls from opening the old root on."""
    start = next(i for i, c in enumerate(fake.calls) if c.name == "open" and c.args[0] == "/")
    return fake.calls[start:]


def test_pivot_root_sequence() -> None:
    fake = run()
    root_fd = next(fd for fd, path in fake.opened.items() if path == ROOT)
    seq = tail(fake)
    old_fd = next(fd for fd, path in fake.opened.items() if path == "/")
    assert [(c.name, c.args) for c in seq] == [
        ("open", ("/", os.O_PATH | os.O_DIRECTORY, 0o777)),
        ("fchdir", (root_fd,)),
        ("pivot_root", (".", ".")),
        ("fchdir", (old_fd,)),
        ("mount", (None, ".", None, MS_SLAVE | MS_REC, None)),
        ("umount2", (".", MNT_DETACH)),
        ("chdir", ("/",)),
        ("close", (old_fd,)),
        ("close", (root_fd,)),
    ]


def test_before_pivot_runs_after_the_devices_and_before_pivot_root() -> None:
    seen: list[int] = []
    fake = make_fake()
    run(fake, before_pivot=lambda: seen.append(len(fake.calls)))
    calls = names(fake)
    last_device_call = max(i for i, name in enumerate(calls) if name in ("mknodat", "symlinkat"))
    assert last_device_call < seen[0] <= calls.index("pivot_root")


def test_pivot_root_failure_is_an_error() -> None:
    fake = make_fake()
    fake.fail["pivot_root"] = errno.EINVAL
    with pytest.raises(ContainerError, match=f"^pivot_root {ROOT}: Invalid argument$"):
        run(fake)
    assert not leaked_fds(fake)


def test_on_an_initramfs_pivot_root_falls_back_to_move_and_chroot() -> None:
    fake = make_fake()
    fake.contents["/proc/self/mountinfo"] = RAMFS_MOUNTINFO
    fake.fail["pivot_root"] = errno.EINVAL
    fake.fail_if.append(("umount2", lambda path, flags: path == "/sys", errno.EPERM))
    run(fake)
    seq = [(c.name, c.args) for c in tail(fake)[3:]]  # after open /, fchdir, pivot_root
    assert seq[:-2] == [
        ("read_file", ("/proc/self/mountinfo",)),
        ("mount", (None, "/proc", None, MS_SLAVE | MS_REC, None)),
        ("umount2", ("/proc", MNT_DETACH)),
        ("mount", (None, "/sys", None, MS_SLAVE | MS_REC, None)),
        ("umount2", ("/sys", MNT_DETACH)),
        ("mount", ("tmpfs", "/sys", "tmpfs", 0, None)),  # could not unmount: covered
        ("mount", (ROOT, "/", None, MS_MOVE, None)),
        ("chroot", (".",)),
        ("chdir", ("/",)),
    ]


def test_no_pivot_moves_and_chroots() -> None:
    fake = run(no_pivot=True)
    assert "pivot_root" not in names(fake)
    assert (ROOT, "/", None, MS_MOVE, None) in mounts(fake)
    assert names(fake)[-4:] == ["chroot", "chdir", "close", "close"]


@pytest.mark.parametrize(
    ("value", "first", "after"),
    [
        (None, MS_SLAVE | MS_REC, None),
        ("rslave", MS_SLAVE | MS_REC, None),
        ("slave", MS_SLAVE | MS_REC, None),
        ("rprivate", MS_PRIVATE | MS_REC, None),
        ("private", MS_SLAVE | MS_REC, MS_PRIVATE),
        ("shared", MS_SLAVE | MS_REC, MS_SHARED),
        ("rshared", MS_SLAVE | MS_REC, MS_SHARED | MS_REC),
        ("unbindable", MS_SLAVE | MS_REC, MS_UNBINDABLE),
        ("runbindable", MS_SLAVE | MS_REC, MS_UNBINDABLE | MS_REC),
    ],
)
def test_rootfs_propagation(value: str | None, first: int, after: int | None) -> None:
    fake = run(**({"rootfsPropagation": value} if value else {}))
    calls = mounts(fake)
    assert calls[0] == (None, "/", None, first, None)
    last = calls[-1]
    if after is None:
        assert last == (None, ".", None, MS_SLAVE | MS_REC, None)  # the old root's rslave
    else:
        assert last == (None, "/", None, after, None)
        assert names(fake).index("pivot_root") < len(fake.calls) - 4
