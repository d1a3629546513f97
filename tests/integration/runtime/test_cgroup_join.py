"""Where a container's init ends up in the cgroups, whichever way it joined them: the
quick way (v1 by its thread, v2 by being cloned into it), the plain cgroup.procs way
when clone3 is not there, or with a user namespace. Each time it is in every hierarchy
of the container before it runs anything, and its cgroup namespace is rooted there."""

from __future__ import annotations

import errno
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from runtime_harness import BundleFactory, new_id

from capsa.cgroups.layout import CgroupLayout
from capsa.runtime.create import CreateOptions, create_container
from capsa.runtime.delete import delete_container
from capsa.runtime.process import intermediate
from capsa.runtime.start import start_container
from capsa.runtime.state import StateStore


class Containers:
    def __init__(self, root: Path) -> None:
        self.store = StateStore(str(root))
        self.made: list[str] = []

    def check(self, bundle: Path, out: Path) -> None:
        cid = new_id()
        self.made.append(cid)
        state = create_container(self.store, cid, CreateOptions(bundle=str(bundle)))
        assert state.cgroup_paths
        for key, directory in state.cgroup_paths.items():
            members = (Path(directory) / "cgroup.procs").read_text().split()
            assert str(state.pid) in members, f"the init is not in its {key} cgroup {directory}"
        start_container(self.store, cid)
        report = out / "cgroup"
        deadline = time.monotonic() + 10
        while not (report.exists() and report.read_text().endswith("\n")):
            assert time.monotonic() < deadline, "the container wrote nothing"
            time.sleep(0.01)
        lines = report.read_text().splitlines()
        assert lines and all(line.endswith(":/") for line in lines), lines


@pytest.fixture
def containers(tmp_path: Path) -> Iterator[Containers]:
    made = Containers(tmp_path / "state")
    yield made
    for cid in made.made:
        try:
            delete_container(made.store, cid, force=True)
        except Exception:  # already gone, or the test failed half-way
            pass


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


def test_the_quick_way(containers: Containers, make_bundle: BundleFactory, tmp_path: Path) -> None:
    containers.check(_bundle(make_bundle, tmp_path / "out"), tmp_path / "out")


def test_without_clone3(
    containers: Containers,
    make_bundle: BundleFactory,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    if CgroupLayout.detect().unified is None:
        pytest.skip("no cgroup v2 hierarchy: nothing is cloned into a cgroup")
    marker = tmp_path / "fell-back"

    def no_clone3(fd: int) -> int:
        marker.touch()  # in the intermediate: the test sees it on the disk
        raise OSError(errno.ENOSYS, "clone3: function not implemented")

    monkeypatch.setattr(intermediate, "fork_into_cgroup", no_clone3)
    containers.check(_bundle(make_bundle, tmp_path / "out"), tmp_path / "out")
    assert marker.exists()


def test_with_a_user_namespace(
    containers: Containers, make_bundle: BundleFactory, public_tmp: Path
) -> None:
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
    containers.check(_bundle(make_bundle, out, edit, rootfs=rootfs), out)
