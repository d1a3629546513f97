"""`capsa commit`'s layer leaves out the engine's mount points (on overlay and vfs) and
keeps the user's changes, even at those paths; the image config is the container's."""

from __future__ import annotations

import io
import os
import tarfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from capsa.engine.commit import container_config, without_mount_points
from capsa.engine.db import ContainerRecord
from capsa.engine.spec import ContainerSpec, PortSpec
from capsa.engine.state import ContainerState
from capsa.oci.image_config import ContainerConfig
from capsa.store.commit import layer_from_snapshot
from capsa.store.fsops import RecordingFsOps
from capsa.store.store import Store


@pytest.fixture(params=["overlay", "vfs"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    ops = RecordingFsOps()
    with Store(tmp_path / "storage", driver=request.param, ops=ops) as opened:
        yield opened
    ops.close()


def _base_layer() -> bytes:
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w") as tar:
        for name in ("etc", "sys"):
            info = tarfile.TarInfo(name)
            info.type, info.mode = tarfile.DIRTYPE, 0o755
            tar.addfile(info)
        info = tarfile.TarInfo("etc/passwd")
        info.size, info.mode = 5, 0o644
        tar.addfile(info, io.BytesIO(b"root\n"))
    return out.getvalue()


def _container(store: Store) -> tuple[Path, str]:
    """A container snapshot with what the engine puts there: /etc/hosts, hostname and
    resolv.conf as empty files, /proc and /dev as empty directories."""
    with store.lease() as lease:
        blob = store.write_blob([_base_layer()], lease=lease)
        parent = store.unpack(blob.digest, lease=lease).chain_id
    store.snapshotter.prepare("c1", parent)
    root = Path(store.snapshotter.apply_target("c1").path)
    (root / "etc").mkdir(mode=0o755, exist_ok=True)  # overlay: copied up for the files
    os.chmod(root / "etc", 0o755)
    for name in ("hosts", "hostname", "resolv.conf"):
        (root / "etc" / name).write_bytes(b"")
    (root / "proc").mkdir()
    (root / "dev").mkdir()
    (root / "root").mkdir()
    (root / "root/x").write_text("x")
    return root, parent


def _layer_names(store: Store, parent: str) -> list[str]:
    with store.lease() as lease:
        _, result = layer_from_snapshot(
            store, "c1", parent, lease=lease, select_for=without_mount_points
        )
        with store.content.open(result.digest) as reader, tarfile.open(
            fileobj=io.BytesIO(reader.read())
        ) as tar:
            return sorted(tar.getnames())


def test_the_engines_mount_points_are_left_out(store: Store) -> None:
    _, parent = _container(store)
    assert _layer_names(store, parent) == ["root", "root/x"]


def test_what_the_user_put_at_those_paths_is_kept(store: Store) -> None:
    root, parent = _container(store)
    (root / "etc/hostname").write_text("mine\n")
    (root / "dev/made").write_text("d")
    (root / "sys").mkdir(exist_ok=True)  # overlay: copied up
    (root / "sys/own").write_text("s")  # /sys is the image's: not a mount point made here
    assert _layer_names(store, parent) == [
        "dev",
        "dev/made",
        "etc",
        "etc/hostname",
        "root",
        "root/x",
        "sys",
        "sys/own",
    ]


def test_a_changed_mode_of_etc_is_kept(store: Store) -> None:
    root, parent = _container(store)
    os.chmod(root / "etc", 0o700)
    assert _layer_names(store, parent) == ["etc", "root", "root/x"]


def _record(spec: ContainerSpec, image: dict[str, Any]) -> ContainerRecord:
    return ContainerRecord("c" * 64, "c", 0, "sha256:" + "0" * 64, "busybox", spec, image,
                           ContainerState())


def test_the_image_config_is_the_containers() -> None:
    image = ContainerConfig(
        env=("PATH=/bin", "A=image"),
        cmd=("sh",),
        user="nobody",
        labels={"from": "image", "kept": "yes"},
        exposed_ports=("80/tcp",),
        volumes=("/data",),
        on_build=("RUN make",),
    )
    spec = ContainerSpec(
        image="busybox",
        command=["sleep", "1"],
        env=["A=run", "B=2"],
        workdir="/srv",
        labels={"from": "run"},
        stop_signal="SIGINT",
    )
    spec.network.expose = ["53/udp"]
    spec.network.ports = [PortSpec(8080)]
    config = container_config(_record(spec, image.to_json()), image)
    assert config.cmd == ("sleep", "1") and config.entrypoint is None
    assert config.env == ("PATH=/bin", "A=run", "B=2")
    assert config.user == "nobody" and config.working_dir == "/srv"
    assert dict(config.labels) == {"from": "run", "kept": "yes"}
    assert config.exposed_ports == ("80/tcp", "53/udp", "8080/tcp")
    assert config.stop_signal == "SIGINT"
    assert config.volumes == ("/data",) and config.on_build == ("RUN make",)
    cleared = ContainerSpec(image="busybox", entrypoint=[], no_healthcheck=True)
    config = container_config(_record(cleared, image.to_json()), image)
    assert config.entrypoint is None and config.cmd is None
    assert config.healthcheck is not None and config.healthcheck.test == ("NONE",)
