"""finalize_rootfs, after pivot_root: the paths it is given are the container's."""

from __future__ import annotations

import errno
import os
import stat
from typing import Any

import pytest
from rootfs_fakes import leaked_fds, make_spec, mounts

from capsa.errors import ContainerError
from capsa.kernel.mounts import (
    MS_BIND,
    MS_NODEV,
    MS_NOEXEC,
    MS_NOSUID,
    MS_RDONLY,
    MS_REC,
    MS_RELATIME,
    MS_REMOUNT,
    MS_STRICTATIME,
)
from capsa.kernel.syscalls.recording import FakeNode, RecordingSyscalls
from capsa.runtime.rootfs import finalize_rootfs
from capsa.runtime.rootfs.options import ST_NODEV, ST_NOEXEC, ST_NOSUID, ST_RDONLY, ST_RELATIME

RO_BIND = MS_BIND | MS_REMOUNT | MS_RDONLY


def container() -> RecordingSyscalls:
    """The container's tree as seen from inside, after pivot_root."""
    fake = RecordingSyscalls()
    fake.add_node("/dev/null", FakeNode(stat.S_IFCHR | 0o666, os.makedev(1, 3)))
    for path in ("/proc/kcore", "/proc/keys", "/proc/timer_list", "/proc/sysrq-trigger"):
        fake.add_file(path, 0o444)
    for path in ("/proc/acpi", "/proc/sys", "/proc/bus", "/sys/firmware", "/etc"):
        fake.add_dir(path)
    fake.mount_flags["/proc"] = ST_NOSUID | ST_NODEV | ST_NOEXEC | ST_RELATIME
    fake.mount_flags["/"] = ST_RELATIME
    return fake


def run(fake: RecordingSyscalls, *entries: dict[str, Any], readonly: bool = False,
        **linux: Any) -> list[tuple[Any, ...]]:  # fmt: skip
    spec = make_spec(*entries, **linux)
    spec["root"]["readonly"] = readonly
    finalize_rootfs(spec, fake)
    assert not leaked_fds(fake)
    return mounts(fake)


def test_nothing_to_do() -> None:
    assert run(container()) == []


def test_masked_files_get_dev_null_and_directories_a_readonly_tmpfs() -> None:
    fake = container()
    calls = run(fake, maskedPaths=["/proc/kcore", "/proc/acpi", "/proc/missing", "/proc/keys",
                                   "/sys/firmware", "/proc/acpi/nothing/here"])  # fmt: skip
    assert calls == [
        ("/dev/null", "/proc/kcore", None, MS_BIND, None),
        ("tmpfs", "/proc/acpi", "tmpfs", MS_RDONLY, None),
        ("/dev/null", "/proc/keys", None, MS_BIND, None),
        ("tmpfs", "/sys/firmware", "tmpfs", MS_RDONLY, None),
    ]
    # /dev/null is checked once, without following a symlink
    checks = [c for c in fake.named("open_in_root") if c.args[1] == "/dev/null"]
    assert len(checks) == 1 and checks[0].args[2] & os.O_NOFOLLOW


@pytest.mark.parametrize(
    "null",
    [
        FakeNode(stat.S_IFREG | 0o666),
        FakeNode(stat.S_IFCHR | 0o666, os.makedev(1, 5)),
        FakeNode(stat.S_IFLNK | 0o777, target="/etc/shadow"),
    ],
)
def test_masking_refuses_a_dev_null_that_is_not_the_null_device(null: FakeNode) -> None:
    fake = container()
    fake.add_node("/dev/null", null)
    with pytest.raises(ContainerError, match="/dev/null in the container is not the null device"):
        run(fake, maskedPaths=["/proc/kcore"])
    assert not fake.named("mount")


def test_masked_path_through_a_symlink_is_resolved_in_the_container() -> None:
    fake = container()
    fake.add_symlink("/etc/kcore", "../../../proc/kcore")
    assert run(fake, maskedPaths=["/etc/kcore"]) == [
        ("/dev/null", "/etc/kcore", None, MS_BIND, None)
    ]
    assert fake.path_of(fake.named("open_in_root")[0].args[0]) == "/"


def test_a_magic_link_in_a_masked_path_is_an_error() -> None:
    fake = container()
    fake.fail_if.append(("open_in_root", lambda fd, path, *_: "/root/" in path, errno.ELOOP))
    with pytest.raises(ContainerError, match=r"^mask /proc/1/root/etc \(linux.maskedPaths\): Too"):
        run(fake, maskedPaths=["/proc/1/root/etc"])


def test_readonly_paths_are_bound_then_remounted_keeping_their_flags() -> None:
    fake = container()
    calls = run(fake, readonlyPaths=["/proc/sys", "/proc/nothere", "/proc/sysrq-trigger"])
    kept = MS_NOSUID | MS_NODEV | MS_NOEXEC | MS_RELATIME
    assert calls == [
        ("/proc/sys", "/proc/sys", None, MS_BIND | MS_REC, None),
        (None, "/proc/sys", None, RO_BIND | kept, None),
        ("/proc/sysrq-trigger", "/proc/sysrq-trigger", None, MS_BIND | MS_REC, None),
        (None, "/proc/sysrq-trigger", None, RO_BIND | kept, None),
    ]


def test_readonly_root_keeps_its_flags() -> None:
    fake = container()
    fake.mount_flags["/"] = ST_NODEV | ST_RELATIME | ST_RDONLY
    assert run(fake, readonly=True) == [(None, "/", None, RO_BIND | MS_NODEV | MS_RELATIME, None)]


def test_order_tmpfs_readonly_then_readonly_paths_then_masks_then_root() -> None:
    fake = container()
    run_tmp = {"destination": "/run", "type": "tmpfs", "source": "t", "options": ["ro", "nosuid"]}
    dev = {"destination": "/dev", "type": "tmpfs", "source": "tmpfs",
           "options": ["ro", "strictatime", "mode=755"]}  # fmt: skip
    bind = {"destination": "/data", "source": "/h", "options": ["rbind", "ro"]}
    calls = run(fake, run_tmp, dev, bind, readonly=True, readonlyPaths=["/proc/sys"],
                maskedPaths=["/proc/kcore"])  # fmt: skip
    assert [(c[1], c[3]) for c in calls] == [
        ("/run", MS_RDONLY | MS_NOSUID | MS_REMOUNT),
        ("/dev", MS_RDONLY | MS_STRICTATIME | MS_REMOUNT),
        ("/proc/sys", MS_BIND | MS_REC),
        ("/proc/sys", RO_BIND | MS_NOSUID | MS_NODEV | MS_NOEXEC | MS_RELATIME),
        ("/proc/kcore", MS_BIND),
        ("/", RO_BIND | MS_RELATIME),
    ]


def test_failure_names_what_was_being_done() -> None:
    fake = container()
    fake.fail["mount"] = errno.EPERM
    with pytest.raises(ContainerError, match=r"^remount / read-only \(root.readonly\): Operation"):
        run(fake, readonly=True)
    assert not leaked_fds(fake)
