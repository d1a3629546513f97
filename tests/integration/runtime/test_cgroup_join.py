"""Where a container's init ends up in the cgroups, whichever way it was started: cloned
straight from the runtime into its namespaces and v2 cgroup, through the intermediate
(v1 by its thread, the init cloned into v2), the plain cgroup.procs way when clone3 is
not there, or with a user namespace. Each time it is in every hierarchy of the container
before it runs anything, and its cgroup namespace is rooted there.

Each case runs create_container in a forked child of the test, which may become a child
subreaper (the straight clone needs one) without changing the test process."""

from __future__ import annotations

import errno
import os
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from runtime_harness import BundleFactory, new_id

from capsa.cgroups.fs import FsManager
from capsa.cgroups.layout import CgroupLayout
from capsa.kernel import process as kproc
from capsa.runtime.create import CreateOptions, create_container
from capsa.runtime.delete import delete_container
from capsa.runtime.process import intermediate, spawn
from capsa.runtime.start import start_container
from capsa.runtime.state import StateStore


def _check(store: StateStore, bundle: Path, out: Path) -> None:
    cid = new_id()
    try:
        state = create_container(store, cid, CreateOptions(bundle=str(bundle)))
        assert state.cgroup_paths
        for key, directory in state.cgroup_paths.items():
            members = (Path(directory) / "cgroup.procs").read_text().split()
            assert str(state.pid) in members, f"the init is not in its {key} cgroup {directory}"
        start_container(store, cid)
        report = out / "cgroup"
        deadline = time.monotonic() + 10
        while not (report.exists() and report.read_text().endswith("\n")):
            assert time.monotonic() < deadline, "the container wrote nothing"
            time.sleep(0.01)
        lines = report.read_text().splitlines()
        assert lines and all(line.endswith(":/") for line in lines), lines
    finally:
        delete_container(store, cid, force=True)


def _in_child(body: Callable[[], None], *, subreaper: bool) -> None:
    """Run body() in a forked child; its failure, with the traceback, fails the test."""
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(read_end)
        code = 0
        try:
            if subreaper:
                kproc.set_child_subreaper()
            body()
        except BaseException:
            os.write(write_end, traceback.format_exc().encode())
            code = 1
        finally:
            os._exit(code)
    os.close(write_end)
    with os.fdopen(read_end, "rb") as f:
        failure = f.read().decode()
    os.waitpid(pid, 0)
    assert not failure, failure


def _bundle(make_bundle: BundleFactory, out: Path, edit: Any = None, **kw: Any) -> Path:
    out.mkdir(mode=0o777)
    out.chmod(0o777)

    def with_out(spec: dict[str, Any]) -> None:
        spec["mounts"].append(
            {"destination": "/out", "type": "bind", "source": str(out), "options": ["rbind"]}
        )
        if edit is not None:
            edit(spec)

    return make_bundle(["sh", "-c", "cat /proc/self/cgroup > /out/cgroup"], with_out, **kw)


def _record(marker: Path, function: Callable[..., Any]) -> Callable[..., Any]:
    def recorded(*args: Any, **kwargs: Any) -> Any:
        marker.touch()
        return function(*args, **kwargs)

    return recorded


def _refuse(marker: Path) -> Callable[..., int]:
    def refused(*args: Any) -> int:
        marker.touch()  # in a forked process: the test sees it on the disk
        raise OSError(errno.ENOSYS, "clone3: function not implemented")

    return refused


def test_cloned_straight_from_the_runtime(
    make_bundle: BundleFactory, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    bundle, out = _bundle(make_bundle, tmp_path / "out"), tmp_path / "out"
    straight, via = tmp_path / "straight", tmp_path / "via-intermediate"
    monkeypatch.setattr(spawn, "clone_process", _record(straight, spawn.clone_process))
    monkeypatch.setattr(
        intermediate, "run_intermediate", _record(via, intermediate.run_intermediate)
    )
    _in_child(lambda: _check(StateStore(str(tmp_path / "state")), bundle, out), subreaper=True)
    assert straight.exists() and not via.exists()


def test_through_the_intermediate(make_bundle: BundleFactory, tmp_path: Path) -> None:
    # Not a subreaper: the init must not become our child, so the intermediate runs.
    bundle, out = _bundle(make_bundle, tmp_path / "out"), tmp_path / "out"
    _in_child(lambda: _check(StateStore(str(tmp_path / "state")), bundle, out), subreaper=False)


def test_without_clone3(
    make_bundle: BundleFactory, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    if CgroupLayout.detect().unified is None:
        pytest.skip("no cgroup v2 hierarchy: nothing is cloned into a cgroup")
    refused_straight, refused_later = tmp_path / "refused-straight", tmp_path / "refused-later"
    monkeypatch.setattr(spawn, "clone_process", _refuse(refused_straight))
    monkeypatch.setattr(intermediate, "fork_into_cgroup", _refuse(refused_later))
    bundle, out = _bundle(make_bundle, tmp_path / "out"), tmp_path / "out"
    _in_child(lambda: _check(StateStore(str(tmp_path / "state")), bundle, out), subreaper=True)
    assert refused_straight.exists() and refused_later.exists()


def test_with_a_user_namespace(make_bundle: BundleFactory, public_tmp: Path) -> None:
    from capsa.runtime.busybox_bundle import make_rootfs

    rootfs = Path(make_rootfs(str(public_tmp / "rootfs")))

    def edit(spec: dict[str, Any]) -> None:
        spec["linux"]["namespaces"].append({"type": "user"})
        spec["linux"]["uidMappings"] = [{"containerID": 0, "hostID": 0, "size": 65536}]
        spec["linux"]["gidMappings"] = [{"containerID": 0, "hostID": 0, "size": 65536}]
        spec["mounts"] = [m for m in spec["mounts"] if m["destination"] != "/sys/fs/cgroup"]
        for mount in spec["mounts"]:
            if mount["destination"] == "/sys":
                mount.update(
                    type="none", source="/sys", options=["rbind", "nosuid", "nodev", "noexec", "ro"]
                )

    out = public_tmp / "out"
    bundle = _bundle(make_bundle, out, edit, rootfs=rootfs)
    _in_child(lambda: _check(StateStore(str(public_tmp / "state")), bundle, out), subreaper=True)


def test_device_rules_are_in_place_before_the_init_joins(
    make_bundle: BundleFactory, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # On v1 the rules are written as "deny all" and then one allow at a time: an init
    # already in the cgroup would be refused its own /dev/ptmx during those writes (a
    # failed `create --console-socket` in CI). The init, cloned before its v1 cgroups
    # are made, must find them complete when it joins.
    if not any("devices" in h.mount.controllers for h in CgroupLayout.detect().v1):
        pytest.skip("no cgroup v1 devices hierarchy: v2 device rules are one BPF attach")
    seen = tmp_path / "devices.list"
    real_enter_v1 = FsManager.enter_v1

    def enter_v1_after_reading_rules(self: FsManager) -> None:
        # In the init, before pivot_root: the test's directory is still in reach.
        seen.write_text(Path(self.paths()["devices"], "devices.list").read_text())
        real_enter_v1(self)

    monkeypatch.setattr(FsManager, "enter_v1", enter_v1_after_reading_rules)
    bundle, out = _bundle(make_bundle, tmp_path / "out"), tmp_path / "out"
    _in_child(lambda: _check(StateStore(str(tmp_path / "state")), bundle, out), subreaper=True)
    rules = seen.read_text().split("\n")
    assert "a *:* rwm" not in rules, rules  # a new cgroup's list: nothing written yet
    assert "c 5:2 rwm" in rules, rules  # /dev/ptmx, one of the defaults
