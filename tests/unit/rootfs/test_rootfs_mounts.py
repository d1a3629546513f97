"""prepare_rootfs, mount by mount: the exact mount(2) calls, on which resolved object."""

from __future__ import annotations

import errno
import os
from typing import Any

import pytest
from rootfs_fakes import (
    BUNDLE,
    ROOT,
    V2_CGROUP,
    V2_MOUNTINFO,
    leaked_fds,
    make_fake,
    make_spec,
    mounts,
    mounts_after_setup,
)

from capsa.errors import ContainerError
from capsa.kernel.mounts import (
    MS_BIND,
    MS_NODEV,
    MS_NOEXEC,
    MS_NOSUID,
    MS_PRIVATE,
    MS_RDONLY,
    MS_REC,
    MS_RELATIME,
    MS_REMOUNT,
    MS_SHARED,
    MS_SLAVE,
    MS_STRICTATIME,
)
from capsa.kernel.syscalls import AT_EMPTY_PATH, AT_RECURSIVE
from capsa.kernel.syscalls.recording import RecordingSyscalls
from capsa.runtime.rootfs import prepare_rootfs
from capsa.runtime.rootfs.options import (
    MOUNT_ATTR__ATIME,
    MOUNT_ATTR_NOATIME,
    MOUNT_ATTR_NOSUID,
    MOUNT_ATTR_RDONLY,
    ST_NODEV,
    ST_NOSUID,
    ST_RDONLY,
    ST_RELATIME,
)

SAFE = MS_NOSUID | MS_NODEV | MS_NOEXEC
PROC = {"destination": "/proc", "type": "proc", "source": "proc"}
DEV = {
    "destination": "/dev",
    "type": "tmpfs",
    "source": "tmpfs",
    "options": ["nosuid", "strictatime", "mode=755", "size=65536k"],
}
NO_DEV = {"destination": "/dev", "type": "bind", "source": "/host/dev", "options": ["rbind"]}


def run(
    *entries: dict[str, Any],
    fake: RecordingSyscalls | None = None,
    user_namespace: bool = False,
    cgroup_namespace: bool = False,
    **linux: Any,
) -> RecordingSyscalls:
    """prepare_rootfs on the fake; a /dev bind keeps the device calls out of the way."""
    fake = fake or make_fake()
    for directory in ("/host/data", "/host/dev"):
        if fake.tree is not None and directory not in fake.tree:
            fake.add_dir(directory)
    prepare_rootfs(
        make_spec(*entries, **linux),
        BUNDLE,
        fake,
        user_namespace=user_namespace,
        cgroup_namespace=cgroup_namespace,
    )
    assert not leaked_fds(fake) - {fd for fd, path in fake.opened.items() if path == "/"}
    return fake


def entry_mounts(fake: RecordingSyscalls) -> list[tuple[Any, ...]]:
    """The mount calls for the entries, without the /dev bind the tests add last."""
    calls = mounts_after_setup(fake)
    index = next(i for i, m in enumerate(calls) if m[0] == "/host/dev")
    return calls[:index]


def test_setup_order_rslave_then_rootfs_bind_then_mounts() -> None:
    fake = run(PROC, NO_DEV)
    assert mounts(fake)[:3] == [
        (None, "/", None, MS_SLAVE | MS_REC, None),
        (ROOT, ROOT, None, MS_BIND | MS_REC, None),
        ("proc", f"{ROOT}/proc", "proc", 0, None),
    ]
    # proc goes on a directory resolved inside the root, never through a final symlink
    call = fake.named("open_in_root")[0]
    assert call.args[1:3] == ("/proc", os.O_PATH | os.O_DIRECTORY | os.O_NOFOLLOW)


def test_filesystem_options_go_in_flags_and_data() -> None:
    fake = run(
        DEV,
        {"destination": "/dev/shm", "type": "tmpfs", "source": "shm",
         "options": ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"]},
        {"destination": "/sys", "type": "sysfs", "source": "sysfs",
         "options": ["nosuid", "noexec", "nodev", "ro"]},
        NO_DEV,
    )  # fmt: skip
    assert entry_mounts(fake) == [
        ("tmpfs", f"{ROOT}/dev", "tmpfs", MS_NOSUID | MS_STRICTATIME, "mode=755,size=65536k"),
        ("shm", f"{ROOT}/dev/shm", "tmpfs", SAFE, "mode=1777,size=65536k"),
        ("sysfs", f"{ROOT}/sys", "sysfs", SAFE | MS_RDONLY, None),
    ]


def test_missing_mount_points_are_made_inside_the_root() -> None:
    fake = run({"destination": "/run/lock/x", "type": "tmpfs", "source": "tmpfs"}, NO_DEV)
    made = [
        (fake.path_of(call.args[0]), call.args[1], call.args[2]) for call in fake.named("mkdirat")
    ]
    assert made[:3] == [(ROOT, "run", 0o755), (f"{ROOT}/run", "lock", 0o755),
                        (f"{ROOT}/run/lock", "x", 0o755)]  # fmt: skip
    assert entry_mounts(fake) == [("tmpfs", f"{ROOT}/run/lock/x", "tmpfs", 0, None)]


def test_relative_destination_is_taken_from_the_root() -> None:
    fake = run({"destination": "run", "type": "tmpfs", "source": "tmpfs"}, NO_DEV)
    assert entry_mounts(fake) == [("tmpfs", f"{ROOT}/run", "tmpfs", 0, None)]


def test_dotdot_in_destination_stops_at_the_root() -> None:
    fake = run({"destination": "/../../../etc/x", "type": "tmpfs", "source": "t"}, NO_DEV)
    assert entry_mounts(fake) == [("t", f"{ROOT}/etc/x", "tmpfs", 0, None)]


@pytest.mark.parametrize("link", ["/host-etc", "../../../../host-etc", "/../../host-etc"])
def test_symlinked_destination_resolves_inside_the_root(link: str) -> None:
    fake = make_fake()
    fake.add_dir("/host-etc")  # the host has one too: it must not be touched
    fake.add_symlink(f"{ROOT}/etc", link)
    fake.add_dir(f"{ROOT}/host-etc")
    run({"destination": "/etc/conf", "type": "tmpfs", "source": "t"}, NO_DEV, fake=fake)
    assert entry_mounts(fake) == [("t", f"{ROOT}/host-etc/conf", "tmpfs", 0, None)]
    assert fake.tree is not None and "/host-etc/conf" not in fake.tree
    assert f"{ROOT}/host-etc/conf" in fake.tree


def test_a_symlink_to_nowhere_is_followed_inside_the_root() -> None:
    fake = make_fake()
    fake.add_dir("/srv")  # the host has /srv; the image does not
    fake.add_symlink(f"{ROOT}/data", "/srv/../srv/data")
    run({"destination": "/data/x", "type": "tmpfs", "source": "t"}, NO_DEV, fake=fake)
    assert entry_mounts(fake) == [("t", f"{ROOT}/srv/data/x", "tmpfs", 0, None)]
    assert fake.tree is not None
    assert {f"{ROOT}/srv", f"{ROOT}/srv/data", f"{ROOT}/srv/data/x"} <= set(fake.tree)
    assert "/srv/data" not in fake.tree  # the host's /srv is untouched


def test_a_relative_symlink_to_nowhere_is_followed_from_its_directory() -> None:
    fake = make_fake()
    fake.add_symlink(f"{ROOT}/etc/conf", "../../../../var/conf")
    fake.add_file("/host/file")
    run({"destination": "/etc/conf", "source": "/host/file", "options": ["bind"]}, NO_DEV,
        fake=fake)  # fmt: skip
    assert entry_mounts(fake) == [("/host/file", f"{ROOT}/var/conf", None, MS_BIND, None)]
    assert fake.tree is not None and fake.tree[f"{ROOT}/var/conf"].mode & 0o170000 == 0o100000


def test_a_symlink_loop_is_an_error() -> None:
    fake = make_fake()
    fake.add_symlink(f"{ROOT}/a", "/b/x")
    fake.add_symlink(f"{ROOT}/b", "/a/x")
    with pytest.raises(ContainerError, match="mount tmpfs on /a/y: mount point: Too many levels"):
        run({"destination": "/a/y", "type": "tmpfs", "source": "t"}, fake=fake)


def test_deep_paths_are_not_mistaken_for_loops() -> None:
    deep = "/d" * 60
    fake = run({"destination": deep, "type": "tmpfs", "source": "t"}, NO_DEV)
    assert entry_mounts(fake) == [("t", ROOT + deep, "tmpfs", 0, None)]


@pytest.mark.parametrize("fstype", ["proc", "sysfs"])
def test_proc_and_sysfs_refuse_a_symlink_mount_point(fstype: str) -> None:
    fake = make_fake()
    fake.add_dir(f"{ROOT}/elsewhere")
    fake.add_symlink(f"{ROOT}/kernel", "/elsewhere")
    with pytest.raises(ContainerError, match="must be a directory, not a symlink or a file"):
        run({"destination": "/kernel", "type": fstype, "source": fstype}, fake=fake)


def test_mounts_inside_proc_are_refused() -> None:
    with pytest.raises(ContainerError, match=r"/proc/sys/kernel is inside /proc, where mounts"):
        run(PROC, {"destination": "/proc/sys/kernel", "type": "tmpfs", "source": "t"})


def test_a_symlink_into_proc_is_refused_too() -> None:
    fake = make_fake()
    fake.add_dir(f"{ROOT}/proc/sys")
    fake.add_symlink(f"{ROOT}/etc/sys", "/proc/sys")
    with pytest.raises(ContainerError, match=r"/etc/sys \(-> /proc/sys\) is inside /proc"):
        run({"destination": "/etc/sys", "type": "tmpfs", "source": "t"}, fake=fake)


def test_lxcfs_files_may_be_mounted_over() -> None:
    fake = make_fake()
    fake.add_file("/var/lib/lxcfs/proc/meminfo")
    fake.add_file(f"{ROOT}/proc/meminfo")
    source = "/var/lib/lxcfs/proc/meminfo"
    run({"destination": "/proc/meminfo", "source": source, "options": ["bind"]}, NO_DEV, fake=fake)
    assert entry_mounts(fake) == [(source, f"{ROOT}/proc/meminfo", None, MS_BIND, None)]


def test_only_proc_goes_on_proc() -> None:
    fake = make_fake()
    fake.add_symlink(f"{ROOT}/myproc", "/proc")
    with pytest.raises(ContainerError, match="only a proc filesystem may be mounted on /proc"):
        run({"destination": "/myproc", "type": "tmpfs", "source": "t"}, fake=fake)


def test_a_destination_resolving_to_the_root_is_refused() -> None:
    fake = make_fake()
    fake.add_symlink(f"{ROOT}/up", "..")
    with pytest.raises(ContainerError, match="the destination resolves to the container's root"):
        run({"destination": "/up", "type": "tmpfs", "source": "t"}, fake=fake)


def test_magic_links_are_refused() -> None:
    fake = make_fake()
    # openat2(RESOLVE_NO_MAGICLINKS) answers ELOOP for /proc/self/root and the like
    fake.fail_if.append(("open_in_root", lambda fd, path, *_: "self/root" in path, errno.ELOOP))
    with pytest.raises(ContainerError, match="mount tmpfs on /proc/self/root/x: mount point: Too"):
        run(PROC, {"destination": "/proc/self/root/x", "type": "tmpfs", "source": "t"}, fake=fake)


def test_bind_mount_of_a_directory() -> None:
    fake = run({"destination": "/data", "source": "/host/data", "options": ["rbind"]}, NO_DEV)
    assert entry_mounts(fake) == [("/host/data", f"{ROOT}/data", None, MS_BIND | MS_REC, None)]
    assert fake.named("mkdirat")[0].args[1] == "data"


def test_bind_source_relative_to_the_bundle() -> None:
    fake = make_fake()
    fake.add_dir("/bundle/volumes/v1")
    run({"destination": "/v", "source": "volumes/v1", "options": ["bind"]}, NO_DEV, fake=fake)
    assert entry_mounts(fake)[0][:2] == ("/bundle/volumes/v1", f"{ROOT}/v")


def test_bind_mount_of_a_file_creates_a_file() -> None:
    fake = make_fake()
    fake.add_file("/host/resolv.conf")
    run({"destination": "/etc/resolv.conf", "source": "/host/resolv.conf",
         "type": "bind", "options": ["rbind", "ro"]}, NO_DEV, fake=fake)  # fmt: skip
    created = fake.named("openat")[0].args
    assert (fake.path_of(created[0]), created[1]) == (f"{ROOT}/etc", "resolv.conf")
    assert created[2] == os.O_CREAT | os.O_EXCL | os.O_WRONLY | os.O_NOFOLLOW
    assert not any(c.args[1] == "resolv.conf" for c in fake.named("mkdirat"))
    assert entry_mounts(fake) == [
        ("/host/resolv.conf", f"{ROOT}/etc/resolv.conf", None, MS_BIND | MS_REC, None),
        (None, f"{ROOT}/etc/resolv.conf", None, MS_REMOUNT | MS_BIND | MS_RDONLY, None),
    ]


def test_type_bind_without_the_option_is_a_bind_mount() -> None:
    fake = run({"destination": "/data", "type": "bind", "source": "/host/data"}, NO_DEV)
    assert entry_mounts(fake) == [("/host/data", f"{ROOT}/data", None, MS_BIND, None)]


def test_bind_options_take_a_remount_then_propagation_in_order() -> None:
    fake = run({"destination": "/data", "source": "/host/data",
                "options": ["rbind", "ro", "nosuid", "rshared", "private"]}, NO_DEV)  # fmt: skip
    assert entry_mounts(fake) == [
        ("/host/data", f"{ROOT}/data", None, MS_BIND | MS_REC, None),
        (None, f"{ROOT}/data", None, MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID, None),
        (None, f"{ROOT}/data", None, MS_SHARED | MS_REC, None),
        (None, f"{ROOT}/data", None, MS_PRIVATE, None),
    ]
    # the remount targets a fresh descriptor: the first one is under the new mount
    first, *later = [t for _, t, *_ in (c.args for c in fake.named("mount")[2:5])]
    assert first not in later and len(set(later)) == 1


def test_bind_without_extra_options_needs_no_remount() -> None:
    fake = run({"destination": "/data", "source": "/host/data",
                "options": ["rbind", "rw", "suid", "defaults"]}, NO_DEV)  # fmt: skip
    assert len(entry_mounts(fake)) == 1


def test_bind_remount_changes_the_existing_mount_only() -> None:
    entry = {"destination": "/data", "source": "/host/data", "options": ["bind", "remount", "ro"]}
    fake = run(entry, NO_DEV)
    assert entry_mounts(fake) == [
        (None, f"{ROOT}/data", None, MS_REMOUNT | MS_BIND | MS_RDONLY, None),
    ]


def test_propagation_on_a_filesystem_mount() -> None:
    fake = run({"destination": "/mnt", "type": "tmpfs", "source": "t", "options": ["rslave"]},
               NO_DEV)  # fmt: skip
    assert entry_mounts(fake) == [
        ("t", f"{ROOT}/mnt", "tmpfs", 0, None),
        (None, f"{ROOT}/mnt", None, MS_SLAVE | MS_REC, None),
    ]


def test_recursive_options_use_mount_setattr_on_the_new_mount() -> None:
    fake = run({"destination": "/data", "source": "/host/data",
                "options": ["rbind", "rro", "rnosuid", "rnoatime"]}, NO_DEV)  # fmt: skip
    (call,) = fake.named("mount_setattr")
    fd, path, flags, attr_set, attr_clr, propagation = call.args
    assert fake.path_of(fd) == f"{ROOT}/data"
    assert (path, flags, propagation) == ("", AT_EMPTY_PATH | AT_RECURSIVE, 0)
    assert attr_set == MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NOATIME
    assert attr_clr == MOUNT_ATTR__ATIME


def test_user_namespace_remount_keeps_the_locked_flags() -> None:
    fake = make_fake()
    fake.add_dir("/host/data")
    fake.mount_flags["/host/data"] = ST_NOSUID | ST_NODEV | ST_RELATIME
    fake.mount_flags[f"{ROOT}/data"] = ST_NOSUID | ST_NODEV | ST_RELATIME  # the bind's flags
    run({"destination": "/data", "source": "/host/data", "options": ["rbind", "ro"]}, NO_DEV,
        fake=fake, user_namespace=True)  # fmt: skip
    remount = entry_mounts(fake)[1]
    assert remount[3] == MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID | MS_NODEV | MS_RELATIME


def test_user_namespace_explicit_rw_is_not_overridden() -> None:
    fake = make_fake()
    fake.mount_flags[f"{ROOT}/data"] = ST_RDONLY | ST_NOSUID
    run({"destination": "/data", "source": "/host/data", "options": ["rbind", "rw", "noexec"]},
        NO_DEV, fake=fake, user_namespace=True)  # fmt: skip
    assert entry_mounts(fake)[1][3] == MS_REMOUNT | MS_BIND | MS_NOEXEC | MS_NOSUID


def test_eperm_on_remount_retries_with_the_locked_flags() -> None:
    fake = make_fake()
    fake.mount_flags[f"{ROOT}/data"] = ST_NODEV
    plain_ro = MS_REMOUNT | MS_BIND | MS_RDONLY
    fake.fail_if.append(("mount", lambda s, t, f, flags, d: flags == plain_ro, errno.EPERM))
    run({"destination": "/data", "source": "/host/data", "options": ["bind", "ro"]}, NO_DEV,
        fake=fake)  # fmt: skip
    flags = [m[3] for m in entry_mounts(fake)]
    assert flags == [MS_BIND, MS_REMOUNT | MS_BIND | MS_RDONLY,
                     MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NODEV]  # fmt: skip


def test_readonly_tmpfs_waits_for_finalize() -> None:
    fake = run({"destination": "/run", "type": "tmpfs", "source": "t", "options": ["ro", "nosuid"]},
               NO_DEV)  # fmt: skip
    assert entry_mounts(fake) == [("t", f"{ROOT}/run", "tmpfs", MS_NOSUID, None)]


def test_sysfs_in_a_user_namespace_falls_back_to_binding_sys() -> None:
    fake = make_fake()
    fake.fail_if.append(("mount", lambda s, t, fstype, *_: fstype == "sysfs", errno.EPERM))
    run({"destination": "/sys", "type": "sysfs", "source": "sysfs",
         "options": ["nosuid", "noexec", "nodev", "ro"]}, NO_DEV, fake=fake,
        user_namespace=True)  # fmt: skip
    assert entry_mounts(fake) == [
        ("sysfs", f"{ROOT}/sys", "sysfs", SAFE | MS_RDONLY, None),
        ("/sys", f"{ROOT}/sys", None, MS_BIND | MS_REC, None),
        (None, f"{ROOT}/sys", None, MS_REMOUNT | MS_BIND | MS_RDONLY | SAFE, None),
    ]


def test_kernel_failure_names_the_mount() -> None:
    fake = make_fake()
    fake.fail_if.append(("mount", lambda s, t, fstype, *_: fstype == "proc", errno.EPERM))
    with pytest.raises(ContainerError, match=r"^mount proc on /proc: Operation not permitted$"):
        run(PROC, fake=fake)
    assert not leaked_fds(fake)


def test_bind_failure_names_source_and_destination() -> None:
    fake = make_fake()
    fake.fail_if.append(("mount", lambda s, *_: s == "/host/data", errno.ENOENT))
    with pytest.raises(ContainerError, match=r"^bind mount /host/data on /d: No such file"):
        run({"destination": "/d", "source": "/host/data", "options": ["bind"]}, fake=fake)


CGROUP = {"destination": "/sys/fs/cgroup", "type": "cgroup", "source": "cgroup",
          "options": ["nosuid", "noexec", "nodev", "relatime", "ro"]}  # fmt: skip
CG = f"{ROOT}/sys/fs/cgroup"


def test_cgroup_v1_is_a_tmpfs_with_a_readonly_bind_per_hierarchy() -> None:
    fake = run(CGROUP, NO_DEV)
    bind = MS_BIND | MS_REC
    remount = MS_REMOUNT | MS_BIND | SAFE | MS_RELATIME | MS_RDONLY
    assert entry_mounts(fake) == [
        ("tmpfs", CG, "tmpfs", SAFE, "mode=755"),
        ("/sys/fs/cgroup/cpu,cpuacct/capsa/c1", f"{CG}/cpu,cpuacct", None, bind, None),
        (None, f"{CG}/cpu,cpuacct", None, remount, None),
        ("/sys/fs/cgroup/memory/capsa/c1", f"{CG}/memory", None, bind, None),
        (None, f"{CG}/memory", None, remount, None),
        ("/sys/fs/cgroup/systemd/system.slice/capsa-c1.scope", f"{CG}/systemd", None, bind, None),
        (None, f"{CG}/systemd", None, remount, None),
        (None, CG, None, MS_REMOUNT | MS_BIND | SAFE | MS_RDONLY, None),
    ]  # fmt: skip
    links = sorted((c.args[0], fake.path_of(c.args[1]), c.args[2]) for c in fake.named("symlinkat")
                   if fake.path_of(c.args[1]) == CG)  # fmt: skip
    assert links == [("cpu,cpuacct", CG, "cpu"), ("cpu,cpuacct", CG, "cpuacct")]


def test_bind_calls_carry_only_bind_flags() -> None:
    # mount(2) ignores every other flag on a bind: they belong to the remount pass.
    fake = run(CGROUP, {"destination": "/d", "source": "/host/data", "options": ["bind", "ro"]},
               NO_DEV)  # fmt: skip
    first_binds = [m for m in entry_mounts(fake) if m[0]]
    assert {m[3] for m in first_binds if m[2] is None} == {MS_BIND | MS_REC, MS_BIND}


def test_cgroup_v1_with_a_cgroup_namespace_mounts_each_hierarchy() -> None:
    fake = run(CGROUP, NO_DEV, cgroup_namespace=True)
    assert entry_mounts(fake) == [
        ("tmpfs", CG, "tmpfs", SAFE, "mode=755"),
        ("cgroup", f"{CG}/cpu,cpuacct", "cgroup", SAFE | MS_RDONLY, "cpu,cpuacct"),
        ("cgroup", f"{CG}/memory", "cgroup", SAFE | MS_RDONLY, "memory"),
        ("cgroup", f"{CG}/systemd", "cgroup", SAFE | MS_RDONLY, "name=systemd"),
        (None, CG, None, MS_REMOUNT | MS_BIND | SAFE | MS_RDONLY, None),
    ]
    assert not any(c.args[0] == "/proc/self/cgroup" for c in fake.named("read_file"))


def test_cgroup_v1_not_in_a_hierarchy_is_an_error() -> None:
    fake = make_fake()
    fake.contents["/proc/self/cgroup"] = "3:memory:/x\n"
    with pytest.raises(ContainerError, match=r"this process is in no cgroup of the cpu,cpuacct"):
        run(CGROUP, fake=fake)


def test_cgroup_v2_host_mounts_cgroup2() -> None:
    fake = make_fake()
    fake.contents.update({"/proc/self/mountinfo": V2_MOUNTINFO, "/proc/self/cgroup": V2_CGROUP})
    run(CGROUP, NO_DEV, fake=fake)
    assert entry_mounts(fake) == [
        ("cgroup", CG, "cgroup2", SAFE | MS_RELATIME | MS_RDONLY, None),
    ]


@pytest.mark.parametrize(("cgroupns", "source"), [(False, "/sys/fs/cgroup"),
                                                  (True, "/sys/fs/cgroup/capsa/c1")])  # fmt: skip
def test_cgroup_v2_refused_falls_back_to_a_bind(cgroupns: bool, source: str) -> None:
    fake = make_fake()
    fake.contents.update({"/proc/self/mountinfo": V2_MOUNTINFO, "/proc/self/cgroup": V2_CGROUP})
    fake.fail_if.append(("mount", lambda s, t, fstype, *_: fstype == "cgroup2", errno.EPERM))
    run(CGROUP, NO_DEV, fake=fake, cgroup_namespace=cgroupns)
    flags = SAFE | MS_RELATIME | MS_RDONLY
    assert entry_mounts(fake)[1:] == [
        (source, CG, None, MS_BIND | MS_REC, None),
        (None, CG, None, MS_REMOUNT | MS_BIND | flags, None),
    ]


def test_mountinfo_is_read_only_when_needed() -> None:
    fake = run(PROC, NO_DEV)
    assert not fake.named("read_file")
