"""/dev: default devices, linux.devices, ptmx and the /dev symlinks."""

from __future__ import annotations

import errno
import os
import stat
from typing import Any

import pytest
from rootfs_fakes import BUNDLE, ROOT, leaked_fds, make_fake, make_spec, mounts

from capsa.errors import ContainerError
from capsa.kernel.mounts import MS_BIND, MS_REC
from capsa.kernel.syscalls.recording import FakeNode, RecordingSyscalls
from capsa.runtime.rootfs import prepare_rootfs

DEFAULTS = [
    ("null", 1, 3), ("zero", 1, 5), ("full", 1, 7),
    ("random", 1, 8), ("urandom", 1, 9), ("tty", 5, 0),
]  # fmt: skip
FUSE = {"path": "/dev/fuse", "type": "c", "major": 10, "minor": 229, "fileMode": 0o640,
        "uid": 0, "gid": 5}  # fmt: skip


def run(
    *devices: dict[str, Any],
    fake: RecordingSyscalls | None = None,
    mounts_: tuple[dict[str, Any], ...] = (),
    user_namespace: bool = False,
    terminal: bool = False,
) -> RecordingSyscalls:
    fake = fake or make_fake()
    spec = make_spec(*mounts_, devices=list(devices))
    if terminal:
        spec["process"] = {"terminal": True, "args": ["sh"], "cwd": "/"}
    prepare_rootfs(spec, BUNDLE, fake, user_namespace=user_namespace, cgroup_namespace=False)
    assert not leaked_fds(fake) - {fd for fd, path in fake.opened.items() if path == "/"}
    return fake


def nodes(fake: RecordingSyscalls) -> list[tuple[str, int, int]]:
    return [
        (f"{fake.path_of(c.args[0])}/{c.args[1]}", c.args[2], c.args[3])
        for c in fake.named("mknodat")
    ]


def test_default_devices_are_made_with_mknod() -> None:
    fake = run()
    assert nodes(fake) == [
        (f"{ROOT}/dev/{name}", stat.S_IFCHR | 0o666, os.makedev(major, minor))
        for name, major, minor in DEFAULTS
    ]
    chmods = [(fake.path_of(c.args[0]), c.args[1], c.args[2]) for c in fake.named("fchmodat")]
    assert chmods == [(f"{ROOT}/dev", name, 0o666) for name, _, _ in DEFAULTS]
    assert not fake.named("fchownat")  # root-owned already


def test_requested_devices_come_first_and_replace_defaults_of_the_same_path() -> None:
    null = {"path": "/dev/null", "type": "c", "major": 1, "minor": 3, "fileMode": 0o600}
    fake = run(FUSE, null, {"path": "/dev/sda", "type": "b", "major": 8, "minor": 0},
               {"path": "/run/fifo", "type": "p"}, {"path": "/dev/u", "type": "u", "major": 4,
                                                    "minor": 64})  # fmt: skip
    made = nodes(fake)
    assert made[:5] == [
        (f"{ROOT}/dev/fuse", stat.S_IFCHR | 0o640, os.makedev(10, 229)),
        (f"{ROOT}/dev/null", stat.S_IFCHR | 0o600, os.makedev(1, 3)),
        (f"{ROOT}/dev/sda", stat.S_IFBLK | 0o666, os.makedev(8, 0)),
        (f"{ROOT}/run/fifo", stat.S_IFIFO | 0o666, 0),
        (f"{ROOT}/dev/u", stat.S_IFCHR | 0o666, os.makedev(4, 64)),
    ]
    assert [m[0] for m in made].count(f"{ROOT}/dev/null") == 1
    owners = [(c.args[1], c.args[2], c.args[3]) for c in fake.named("fchownat")]
    assert owners == [("fuse", 0, 5)]
    assert any(c.args[1] == "run" for c in fake.named("mkdirat"))  # parents are made


def test_device_in_a_symlinked_directory_lands_inside_the_root() -> None:
    fake = make_fake()
    fake.add_dir("/host-dev")
    fake.add_dir(f"{ROOT}/host-dev")
    fake.add_symlink(f"{ROOT}/devices", "/host-dev")
    run({"path": "/devices/fuse", "type": "c", "major": 10, "minor": 229}, fake=fake)
    assert nodes(fake)[0][0] == f"{ROOT}/host-dev/fuse"


def test_user_namespace_binds_the_hosts_nodes() -> None:
    fake = run(FUSE, user_namespace=True)
    assert not fake.named("mknodat")
    binds = [m for m in mounts(fake) if m[3] == MS_BIND]
    expected = ["/dev/fuse"] + [f"/dev/{name}" for name, _, _ in DEFAULTS]
    assert binds == [(path, f"{ROOT}{path}", None, MS_BIND, None) for path in expected]
    created = [(c.args[1], c.args[2]) for c in fake.named("openat")]
    assert ("fuse", os.O_CREAT | os.O_EXCL | os.O_WRONLY | os.O_NOFOLLOW) in created


def test_mknod_refused_falls_back_to_a_bind() -> None:
    fake = make_fake()
    fake.fail_if.append(("mknodat", lambda *a: True, errno.EPERM))
    run(fake=fake)
    assert len([m for m in mounts(fake) if m[3] == MS_BIND]) == len(DEFAULTS)


def test_an_existing_matching_device_is_kept() -> None:
    fake = make_fake()
    fake.add_node(f"{ROOT}/dev/null", FakeNode(stat.S_IFCHR | 0o666, os.makedev(1, 3)))
    run(fake=fake)
    assert f"{ROOT}/dev/null" not in [n[0] for n in nodes(fake) if n[0].endswith("null")][1:]


@pytest.mark.parametrize(
    "existing",
    [FakeNode(stat.S_IFREG | 0o644), FakeNode(stat.S_IFCHR | 0o666, os.makedev(1, 5))],
)
def test_an_existing_different_file_is_an_error(existing: FakeNode) -> None:
    fake = make_fake()
    fake.add_node(f"{ROOT}/dev/fuse", existing)
    with pytest.raises(ContainerError, match=r"linux.devices\[0\]: /dev/fuse already exists and"):
        run(FUSE, fake=fake)


def test_ptmx_and_the_dev_symlinks() -> None:
    fake = make_fake()
    fake.add_file(f"{ROOT}/dev/ptmx")  # whatever the image had there goes
    fake.add_file("/proc/kcore")
    run(fake=fake)
    (unlink,) = fake.named("unlinkat")
    assert (fake.path_of(unlink.args[0]), unlink.args[1]) == (f"{ROOT}/dev", "ptmx")
    assert fake.tree is not None
    ptmx = fake.tree[f"{ROOT}/dev/ptmx"]
    assert stat.S_ISLNK(ptmx.mode) and ptmx.target == "pts/ptmx"
    links = [(c.args[0], fake.path_of(c.args[1]), c.args[2]) for c in fake.named("symlinkat")]
    ptmx_link = ("pts/ptmx", f"{ROOT}/dev", "ptmx")
    assert links.count(ptmx_link) == 2  # refused (EEXIST), then made after the unlink
    assert links[links.index(ptmx_link, 1) + 1 :] == [
        ("/proc/self/fd", f"{ROOT}/dev", "fd"),
        ("/proc/self/fd/0", f"{ROOT}/dev", "stdin"),
        ("/proc/self/fd/1", f"{ROOT}/dev", "stdout"),
        ("/proc/self/fd/2", f"{ROOT}/dev", "stderr"),
        ("/proc/kcore", f"{ROOT}/dev", "core"),
    ]


def test_a_fresh_dev_gets_ptmx_without_an_unlink() -> None:
    fake = run()
    assert not fake.named("unlinkat")
    links = [(c.args[0], fake.path_of(c.args[1]), c.args[2]) for c in fake.named("symlinkat")]
    assert links[0] == ("pts/ptmx", f"{ROOT}/dev", "ptmx")


def test_no_dev_core_without_proc_kcore() -> None:
    fake = run()
    assert "core" not in [c.args[2] for c in fake.named("symlinkat")]


def test_existing_symlinks_are_kept() -> None:
    fake = make_fake()
    fake.add_symlink(f"{ROOT}/dev/fd", "/proc/self/fd")
    run(fake=fake)  # no EEXIST error


def test_terminal_gets_a_console_mount_point() -> None:
    fake = run(terminal=True)
    assert fake.tree is not None and stat.S_ISREG(fake.tree[f"{ROOT}/dev/console"].mode)
    assert "console" not in [c.args[1] for c in run().named("openat")]


def test_a_bind_mounted_dev_is_left_alone() -> None:
    fake = make_fake()
    fake.add_dir("/host/dev")
    dev = {"destination": "/dev", "source": "/host/dev", "options": ["rbind"]}
    run(FUSE, fake=fake, mounts_=(dev,))
    assert not fake.named("mknodat")
    assert not fake.named("symlinkat")
    assert mounts(fake)[2] == ("/host/dev", f"{ROOT}/dev", None, MS_BIND | MS_REC, None)


def test_mknod_failure_names_the_device() -> None:
    fake = make_fake()
    fake.fail_if.append(("mknodat", lambda *a: True, errno.ENOSPC))
    with pytest.raises(ContainerError, match=r"^mknod /dev/null: No space left on device$"):
        run(fake=fake)
