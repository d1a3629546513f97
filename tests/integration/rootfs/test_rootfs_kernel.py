"""prepare_rootfs + finalize_rootfs on the real kernel, checked from inside the container.

Each test runs the container in a forked child with its own mount and PID namespaces
(see rootfs_harness); the probes run after pivot_root, so they use only modules that are
already imported (the container has no Python library). Every test also checks that the
host's mount table is exactly what it was, and escape tests that nothing appeared on
the host.
"""

from __future__ import annotations

import errno
import os
import shutil
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from rootfs_harness import mountinfo, run_container

SAFE = ["nosuid", "noexec", "nodev"]


def default_spec(**linux: Any) -> dict[str, Any]:
    """What `runc spec` writes, with the root read-only."""
    return {
        "ociVersion": "1.2.0",
        "process": {"args": ["sh"], "cwd": "/"},
        "root": {"path": "rootfs", "readonly": True},
        "mounts": [
            {"destination": "/proc", "type": "proc", "source": "proc"},
            {
                "destination": "/dev",
                "type": "tmpfs",
                "source": "tmpfs",
                "options": ["nosuid", "strictatime", "mode=755", "size=65536k"],
            },
            {
                "destination": "/dev/pts",
                "type": "devpts",
                "source": "devpts",
                "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620"],
            },
            {
                "destination": "/dev/shm",
                "type": "tmpfs",
                "source": "shm",
                "options": [*SAFE, "mode=1777", "size=65536k"],
            },
            {"destination": "/dev/mqueue", "type": "mqueue", "source": "mqueue", "options": SAFE},
            {"destination": "/sys", "type": "sysfs", "source": "sysfs", "options": [*SAFE, "ro"]},
            {
                "destination": "/sys/fs/cgroup",
                "type": "cgroup",
                "source": "cgroup",
                "options": [*SAFE, "relatime", "ro"],
            },
        ],
        "linux": {
            "namespaces": [{"type": "mount"}, {"type": "pid"}],
            "maskedPaths": [
                "/proc/acpi",
                "/proc/asound",
                "/proc/kcore",
                "/proc/keys",
                "/proc/latency_stats",
                "/proc/timer_list",
                "/proc/timer_stats",
                "/proc/sched_debug",
                "/sys/firmware",
                "/proc/scsi",
            ],
            "readonlyPaths": ["/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys"],
            **linux,
        },
    }


def host_mount_table() -> list[tuple[str, str, str]]:
    return [(m["point"], m["fstype"], m["options"]) for m in mountinfo()]


@pytest.fixture
def bundle(busybox_rootfs: Path) -> Iterator[Path]:
    """The bundle directory, and a check that the host's mounts are untouched after."""
    before = host_mount_table()
    yield busybox_rootfs.parent
    assert host_mount_table() == before


def write_error(path: str) -> str | None:
    try:
        with open(path, "w") as f:
            f.write("x")
    except OSError as exc:
        return errno.errorcode[exc.errno or 0]
    return None


def mode_of(path: str) -> list[Any]:
    st = os.lstat(path)
    return [stat.filemode(st.st_mode), os.major(st.st_rdev), os.minor(st.st_rdev)]


def points() -> dict[str, dict[str, str]]:
    return {m["point"]: m for m in mountinfo()}


def test_default_container(bundle: Path) -> None:
    def probe() -> dict[str, Any]:
        with open("/proc/timer_list") as f:
            timer_list = f.read()
        return {
            "pid": os.getpid(),
            "cwd": os.getcwd(),
            "mounts": points(),
            "dev": {name: mode_of(f"/dev/{name}") for name in sorted(os.listdir("/dev"))},
            "links": {name: os.readlink(f"/dev/{name}") for name in ("ptmx", "fd", "stdin")},
            "root_write": write_error("/newfile"),
            "sysctl_write": write_error("/proc/sys/kernel/domainname"),
            "shm_write": write_error("/dev/shm/ok"),
            "sys_write": write_error("/sys/kernel/uevent_helper"),
            "timer_list": timer_list,
            "firmware": os.listdir("/sys/firmware"),
            "cgroup": sorted(os.listdir("/sys/fs/cgroup")),
            "cgroup_write": write_error("/sys/fs/cgroup/pids/pids.max"),
            "passwd": open("/etc/passwd").read().split(":")[0],
        }

    result = run_container(default_spec(), bundle, probe)
    assert "ok" in result, result
    out = result["ok"]
    assert out["pid"] == 1 and out["cwd"] == "/" and out["passwd"] == "root"
    mounts = out["mounts"]
    assert mounts["/"]["options"].startswith("ro,")
    assert mounts["/proc"]["fstype"] == "proc"
    assert mounts["/dev"]["fstype"] == "tmpfs" and "nosuid" in mounts["/dev"]["options"]
    assert mounts["/dev/pts"]["fstype"] == "devpts"
    assert mounts["/dev/shm"]["options"].split(",")[:4] == ["rw", "nosuid", "nodev", "noexec"]
    assert mounts["/sys"]["options"].startswith("ro,")
    assert mounts["/sys/fs/cgroup"]["fstype"] == "tmpfs"
    assert mounts["/proc/sys"]["options"].startswith("ro,")
    assert mounts["/sys/firmware"]["fstype"] == "tmpfs"
    # nothing of the host is left visible
    assert not [p for p in mounts if p.startswith(str(bundle))]
    dev = out["dev"]
    for name, major, minor in [("null", 1, 3), ("zero", 1, 5), ("full", 1, 7),
                               ("random", 1, 8), ("urandom", 1, 9), ("tty", 5, 0)]:  # fmt: skip
        assert dev[name] == ["crw-rw-rw-", major, minor], name
    assert out["links"] == {"ptmx": "pts/ptmx", "fd": "/proc/self/fd", "stdin": "/proc/self/fd/0"}
    assert {"stdout", "stderr", "pts", "shm", "mqueue"} <= set(dev)
    assert out["root_write"] == "EROFS"
    assert out["sysctl_write"] == "EROFS"
    assert out["shm_write"] is None
    assert out["sys_write"] == "EROFS"
    assert out["timer_list"] == ""
    assert out["firmware"] == []
    if "memory" in out["cgroup"]:  # a v1 or hybrid host
        assert out["cgroup_write"] == "EROFS"
    # the image on disk was not touched: /dev was a tmpfs
    assert os.listdir(bundle / "rootfs" / "dev") == []


def test_escapes_through_symlinks_land_inside_the_rootfs(bundle: Path, tmp_path: Path) -> None:
    rootfs = bundle / "rootfs"
    host = tmp_path / "host-marker"  # exists on the host: what an attacker would aim at
    host.mkdir()
    (bundle / "data").mkdir()
    (bundle / "data" / "file").write_text("from the bundle")
    shutil.rmtree(rootfs / "etc")
    (rootfs / "etc").symlink_to(f"/../../..{host}")  # absolute, with a `..` run
    (rootfs / "evil").symlink_to("../" * 12 + str(host).lstrip("/"))  # relative, way up
    (rootfs / "abs").symlink_to(str(host))
    spec = default_spec(
        devices=[{"path": "/abs/devnull", "type": "c", "major": 1, "minor": 3}],
        maskedPaths=["/evil/masked"],
        readonlyPaths=["/abs/ro"],
    )
    spec["mounts"] += [
        {"destination": "/etc/inner", "type": "tmpfs", "source": "inner"},
        {"destination": "/evil/bound", "source": "data", "options": ["rbind", "ro"]},
        {"destination": "/abs/ro", "type": "tmpfs", "source": "ro"},
        {"destination": "/abs/masked", "type": "tmpfs", "source": "masked"},
        {"destination": "../../../dotdot", "type": "tmpfs", "source": "dotdot"},
    ]
    inside = str(host)

    def probe() -> dict[str, Any]:
        return {
            "mounts": {p: m["source"] for p, m in points().items()},
            "bound": open(f"{inside}/bound/file").read(),
            "devnull": mode_of(f"{inside}/devnull"),
            "ro_write": write_error(f"{inside}/ro/x"),
        }

    result = run_container(spec, bundle, probe)
    assert "ok" in result, result
    out = result["ok"]
    assert out["mounts"][f"{inside}/inner"] == "inner"
    assert f"{inside}/bound" in out["mounts"]
    assert out["mounts"]["/dotdot"] == "dotdot"
    assert out["bound"] == "from the bundle"
    assert out["devnull"] == ["crw-rw-rw-", 1, 3]
    assert out["ro_write"] == "EROFS"
    # the host's marker directory saw nothing; it all happened under the rootfs
    assert list(host.iterdir()) == []
    assert sorted(p.name for p in (rootfs / inside.lstrip("/")).iterdir()) == [
        "bound",
        "devnull",
        "inner",
        "masked",
        "ro",
    ]
    assert not (Path("/dotdot")).exists()


def test_magic_links_in_a_destination_are_refused(bundle: Path) -> None:
    spec = default_spec()
    spec["mounts"].append({"destination": "/proc/self/root/tmp/x", "type": "tmpfs", "source": "t"})
    result = run_container(spec, bundle, lambda: None)
    assert result["error"] == (
        "MountFailed: mount tmpfs on /proc/self/root/tmp/x: mount point: "
        "Too many levels of symbolic links"
    )
    assert not Path("/tmp/x").exists()


def test_a_destination_through_a_symlink_into_proc_is_refused(bundle: Path) -> None:
    (bundle / "rootfs" / "kernel").symlink_to("/proc/sys/kernel")
    spec = default_spec()
    spec["mounts"].append({"destination": "/kernel", "type": "tmpfs", "source": "t"})
    result = run_container(spec, bundle, lambda: None)
    assert "/kernel (-> /proc/sys/kernel) is inside /proc" in result["error"]


def test_proc_on_a_symlink_is_refused(bundle: Path) -> None:
    rootfs = bundle / "rootfs"
    (rootfs / "proc").rmdir()
    (rootfs / "proc").symlink_to("/tmp")
    result = run_container(default_spec(), bundle, lambda: None)
    assert "mount proc on /proc: /proc must be a directory, not a symlink" in result["error"]


def test_kernel_failures_name_the_mount(bundle: Path) -> None:
    spec = default_spec()
    spec["mounts"].append({"destination": "/x", "type": "nosuchfs", "source": "x"})
    result = run_container(spec, bundle, lambda: None)
    assert result["error"] == "MountFailed: mount nosuchfs on /x: No such device"


def test_bind_mounts_files_and_options(bundle: Path, tmp_path: Path) -> None:
    source = tmp_path / "hosts"
    source.write_text("127.0.0.1 localhost\n")
    spec = default_spec()
    spec["mounts"] += [
        {"destination": "/etc/hosts", "source": str(source), "options": ["bind", "ro", "nosuid"]},
        {"destination": "/rw", "source": str(tmp_path), "options": ["rbind", "rw", "rprivate"]},
        {"destination": "/rro", "source": str(tmp_path), "options": ["rbind", "rro", "noexec"]},
        {"destination": "/run", "type": "tmpfs", "source": "run", "options": ["ro", "mode=700"]},
        {"destination": "/run/sub", "type": "tmpfs", "source": "sub"},
    ]

    def probe() -> dict[str, Any]:
        mounts = points()
        return {
            "hosts": open("/etc/hosts").read(),
            "hosts_opts": mounts["/etc/hosts"]["options"],
            "hosts_write": write_error("/etc/hosts"),
            "rw_opts": mounts["/rw"]["options"],
            "rro_opts": mounts["/rro"]["options"],
            "run_opts": mounts["/run"]["options"],
            "run_mode": oct(os.stat("/run").st_mode & 0o7777),
            "sub": "/run/sub" in mounts,
        }

    result = run_container(spec, bundle, probe)
    assert "ok" in result, result
    out = result["ok"]
    assert out["hosts"] == "127.0.0.1 localhost\n"
    assert out["hosts_opts"].split(",")[:2] == ["ro", "nosuid"]
    assert out["hosts_write"] == "EROFS"
    assert out["rw_opts"].startswith("rw,")
    assert out["rro_opts"].split(",")[:2] == ["ro", "noexec"]
    assert out["run_opts"].startswith("ro,")  # made read-only by finalize_rootfs...
    assert out["sub"]  # ...after /run/sub was mounted in it
    assert out["run_mode"] == "0o700"
    assert (tmp_path / "hosts").read_text() == "127.0.0.1 localhost\n"


def test_requested_devices(bundle: Path) -> None:
    spec = default_spec(
        devices=[
            {"path": "/dev/fuse", "type": "c", "major": 10, "minor": 229, "fileMode": 0o640,
             "uid": 1000, "gid": 5},
            {"path": "/dev/loop9", "type": "b", "major": 7, "minor": 9, "fileMode": 0o600},
            {"path": "/run/pipe", "type": "p", "fileMode": 0o620},
        ],
    )  # fmt: skip

    def probe() -> dict[str, Any]:
        fuse = os.stat("/dev/fuse")
        return {
            "fuse": [*mode_of("/dev/fuse"), fuse.st_uid, fuse.st_gid],
            "loop": mode_of("/dev/loop9"),
            "pipe": mode_of("/run/pipe")[0],
        }

    result = run_container(spec, bundle, probe)
    assert "ok" in result, result
    assert result["ok"] == {
        "fuse": ["crw-r-----", 10, 229, 1000, 5],
        "loop": ["brw-------", 7, 9],
        "pipe": "prw--w----",
    }


def test_devices_are_bound_when_asked_for_a_user_namespace(bundle: Path) -> None:
    def probe() -> dict[str, Any]:
        return {"null": mode_of("/dev/null"), "mounted": "/dev/null" in points()}

    result = run_container(default_spec(), bundle, probe, user_namespace=True)
    assert result == {"ok": {"null": ["crw-rw-rw-", 1, 3], "mounted": True}}


def test_in_a_real_user_namespace(bundle: Path) -> None:
    """Root mapped to root, but in a user namespace: mknod is refused, sysfs cannot be
    mounted (no network namespace of our own), and flags of the host's mounts are locked."""

    def probe() -> dict[str, Any]:
        mounts = points()
        return {
            "null": mode_of("/dev/null"),
            "null_bound": "/dev/null" in mounts,
            "sys": [mounts["/sys"]["fstype"], mounts["/sys"]["options"].split(",")[0]],
            "root": mounts["/"]["options"].split(",")[0],
            "cgroup": write_error("/sys/fs/cgroup/pids/pids.max"),
            "sysctl": write_error("/proc/sys/kernel/domainname"),
        }

    result = run_container(
        default_spec(), bundle, probe, user_namespace=True, real_user_namespace=True
    )
    assert "ok" in result, result
    out = result["ok"]
    assert out["null"] == ["crw-rw-rw-", 1, 3] and out["null_bound"]
    assert out["sys"] == ["sysfs", "ro"]  # the bind of the host's /sys, made read-only
    assert out["root"] == "ro"
    assert out["sysctl"] == "EROFS"
    assert out["cgroup"] in ("EROFS", "ENOENT")


def test_no_pivot_moves_the_root(bundle: Path) -> None:
    def probe() -> dict[str, Any]:
        return {"passwd": open("/etc/passwd").read().split(":")[0], "mounts": sorted(points())}

    result = run_container(default_spec(), bundle, probe, no_pivot=True)
    assert "ok" in result, result
    assert result["ok"]["passwd"] == "root"
    assert "/proc" in result["ok"]["mounts"]


def test_rootfs_propagation_shared_is_a_new_peer_group(bundle: Path) -> None:
    def probe() -> str:
        return points()["/"]["optional"]

    result = run_container(default_spec(rootfsPropagation="rshared"), bundle, probe)
    assert result["ok"].startswith("shared:")
    host_groups = {m["optional"] for m in mountinfo() if m["optional"].startswith("shared:")}
    assert result["ok"].split()[0] not in {g.split()[0] for g in host_groups}


def test_masked_and_readonly_paths_that_do_not_exist_are_ignored(bundle: Path) -> None:
    spec = default_spec(maskedPaths=["/proc/nothere"], readonlyPaths=["/nothere/either"])
    result = run_container(spec, bundle, lambda: "fine")
    assert result == {"ok": "fine"}
