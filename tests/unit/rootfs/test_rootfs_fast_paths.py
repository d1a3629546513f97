"""The shortcuts the start path takes give what the plain way gives: cgroup_layout against
parse_mountinfo, clean_path's "clean already" test against normpath, the option cache,
the exception-free openat2, read_file against open().read()."""

from __future__ import annotations

import errno
import os
import posixpath
import re
from pathlib import Path
from typing import Any

import pytest
from rootfs_fakes import V1_MOUNTINFO, V2_MOUNTINFO

from capsa.errors import InvalidArgument, Unavailable
from capsa.kernel.paths import open_in_root, try_open_in_root
from capsa.kernel.syscalls.real import RealSyscalls
from capsa.kernel.syscalls.recording import RecordingSyscalls
from capsa.runtime.rootfs.mountinfo import cgroup_layout, parse_mountinfo
from capsa.runtime.rootfs.options import parse_options
from capsa.runtime.rootfs.spec import clean_path

ROOT = "/sys/fs/cgroup"


def layout_the_long_way(text: str) -> tuple[str | None, list[tuple[str, str, tuple[str, ...]]]]:
    """What mount_cgroup used to compute from the whole parsed table."""
    mounts = parse_mountinfo(text)
    top = [m for m in mounts if m.mount_point == ROOT]
    seen: dict[str, Any] = {}
    for info in mounts:
        if info.fstype == "cgroup" and posixpath.dirname(info.mount_point) == ROOT:
            seen.setdefault(info.mount_point, info)
    return (
        top[-1].fstype if top else None,
        [(m.mount_point, m.root, m.controllers) for m in seen.values()],
    )


ODD_MOUNTINFO = """\
27 1 254:0 / / rw,relatime - ext4 /dev/vda rw
31 23 0:28 / /sys/fs/cgroup rw - tmpfs tmpfs rw,mode=755
32 31 0:29 /sub /sys/fs/cgroup/cpu,cpuacct rw - cgroup cgroup rw,cpu,cpuacct
33 31 0:29 /other /sys/fs/cgroup/cpu,cpuacct rw - cgroup cgroup rw,cpu,cpuacct
34 31 0:30 / /sys/fs/cgroup/my\\040group rw - cgroup cgroup rw,xattr,name=my,release_agent=/x
35 31 0:31 / /sys/fs/cgroup/deeper/memory rw - cgroup cgroup rw,memory
36 27 0:32 /sys/fs/cgroup /mnt/copy rw - cgroup cgroup rw,pids
37 27 0:33 / /bundle/rootfs/sys/fs/cgroup/pids rw - cgroup cgroup rw,pids
38 31 0:34 / /sys/fs/cgroup/broken rw cgroup cgroup rw,pids
39 31 0:35 / /sys/fs/cgroup/unified rw - cgroup2 cgroup2 rw
40 23 0:36 / /sys/fs/cgroup rw - cgroup2 cgroup2 rw,nsdelegate
41 31 0:37 / /sys/fs/cgroup/blkio rw shared:5 master:2 - cgroup cgroup rw,blkio
"""


@pytest.mark.parametrize("text", [V1_MOUNTINFO, V2_MOUNTINFO, ODD_MOUNTINFO, ""])
def test_cgroup_layout_is_what_the_whole_table_says(text: str) -> None:
    assert cgroup_layout(text, ROOT) == layout_the_long_way(text)


def test_cgroup_layout_of_a_v1_host() -> None:
    top, hierarchies = cgroup_layout(V1_MOUNTINFO, ROOT)
    assert top == "tmpfs"
    assert hierarchies == [
        ("/sys/fs/cgroup/cpu,cpuacct", "/", ("cpu", "cpuacct")),
        ("/sys/fs/cgroup/memory", "/", ("memory",)),
        ("/sys/fs/cgroup/systemd", "/", ("name=systemd",)),
    ]


@pytest.mark.parametrize(
    "path",
    [
        "/",
        "//",
        "///x",
        "//x/y",
        "/a/b",
        "/a/b/",
        "/a//b",
        "/a/./b",
        "/a/../b",
        "/../../x",
        "/a/.",
        "/a/..",
        "/.hidden/x",
        "/a/b.c/..d",
        "relative/x",
        "./x",
        "../x",
        ".",
        "",
        "/a/b/c/d/e",
    ],
)
def test_clean_path_shortcut_agrees_with_normpath(path: str) -> None:
    cleaned = posixpath.normpath("/" + path)
    assert clean_path(path) == "/" + cleaned.lstrip("/")


def test_parsed_options_are_shared_and_errors_are_not_kept() -> None:
    first = parse_options(["nosuid", "mode=755", "size=65536k"], "a")
    again = parse_options(("nosuid", "mode=755", "size=65536k"), "b")
    assert again is first
    for field in ("mounts[0].options", "mounts[9].options"):
        with pytest.raises(Unavailable, match=re.escape(f"{field}[1]")):
            parse_options(["ro", "tmpcopyup"], field)
        with pytest.raises(InvalidArgument, match=re.escape(f"{field}[0]")):
            parse_options(["", "ro"], field)


def test_try_open_in_root_answers_an_errno(tmp_path: Path) -> None:
    (tmp_path / "dir").mkdir()
    (tmp_path / "link").symlink_to("/dir")  # inside the root: tmp_path/dir
    root = os.open(tmp_path, os.O_PATH | os.O_DIRECTORY)
    try:
        assert try_open_in_root(root, "/missing", os.O_PATH) == -errno.ENOENT
        with pytest.raises(FileNotFoundError) as caught:
            open_in_root(root, "/missing", os.O_PATH)
        assert caught.value.filename == "missing"
        fd = try_open_in_root(root, "/link", os.O_PATH | os.O_DIRECTORY)
        assert fd >= 0
        try:
            assert os.readlink(f"/proc/self/fd/{fd}") == str(tmp_path / "dir")
            assert os.get_inheritable(fd) is False  # O_CLOEXEC
        finally:
            os.close(fd)
        nofollow = os.O_PATH | os.O_DIRECTORY | os.O_NOFOLLOW
        assert try_open_in_root(root, "/link", nofollow) == -errno.ENOTDIR
    finally:
        os.close(root)


def test_recording_try_open_in_root_records_and_answers_an_errno() -> None:
    fake = RecordingSyscalls()
    fake.add_dir("/r/etc")
    root = fake.open("/r", os.O_PATH | os.O_DIRECTORY)
    assert fake.try_open_in_root(root, "/nothing", os.O_PATH) == -errno.ENOENT
    assert fake.path_of(fake.try_open_in_root(root, "/etc", os.O_PATH)) == "/r/etc"
    assert [c.args[1] for c in fake.named("open_in_root")] == ["/nothing", "/etc"]


@pytest.mark.parametrize(
    "data",
    [b"", b"one\ntwo\n", b"crlf\r\nand cr\rend", b"\xff\xfe bytes", b"x" * 100_000],
)
def test_read_file_reads_as_open_does(tmp_path: Path, data: bytes) -> None:
    path = tmp_path / "f"
    path.write_bytes(data)
    with open(path, encoding="utf-8", errors="surrogateescape") as f:
        expected = f.read()
    assert RealSyscalls().read_file(str(path)) == expected


def test_read_file_of_mountinfo() -> None:
    with open("/proc/self/mountinfo", encoding="utf-8", errors="surrogateescape") as f:
        expected = f.read()
    assert RealSyscalls().read_file("/proc/self/mountinfo") == expected
