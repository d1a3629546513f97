"""Layers on a real kernel, as root: device nodes, owners, modes, xattrs (file
capabilities, overlay's trusted.* attributes), whiteouts merged by a real overlay mount,
a busybox image that runs, and diffs of what a container changed."""

from __future__ import annotations

import io
import os
import shutil
import stat
import struct
import subprocess
import tarfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from store_kernel import mounted
from store_tars import compress, dir_, node, reg, sym, tar_bytes, tree

from capsa.oci.digest import Digest
from capsa.store.copy import copy_tree
from capsa.store.diff import diff_dirs, diff_overlay
from capsa.store.idmap import IdMap
from capsa.store.store import Store, overlay_supported
from capsa.store.unpack import Style, apply_layer

BUSYBOX = Path("/bin/busybox")
# VFS_CAP_REVISION_2 with the effective flag, permitted = CAP_NET_RAW (13)
NET_RAW = struct.pack("<IIIII", 0x02000001, 1 << 13, 0, 0, 0)


@pytest.fixture(params=["overlay", "vfs"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    with Store(tmp_path / "storage", driver=request.param) as opened:
        yield opened


def busybox_layer() -> bytes:
    if not BUSYBOX.exists():
        pytest.skip("busybox-static is not installed (apt-get install busybox-static)")
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w", format=tarfile.PAX_FORMAT) as archive:
        for name in ("bin", "etc", "tmp", "dev"):
            info = tarfile.TarInfo(name)
            info.type = tarfile.DIRTYPE
            info.mode = 0o1777 if name == "tmp" else 0o755
            archive.addfile(info)
        archive.add(str(BUSYBOX), "bin/busybox")
        for applet in ("sh", "ls", "cat", "echo", "stat", "id"):
            info = tarfile.TarInfo(f"bin/{applet}")
            info.type = tarfile.SYMTYPE
            info.linkname = "busybox"
            archive.addfile(info)
        info = tarfile.TarInfo("etc/passwd")
        data = b"root:x:0:0:root:/root:/bin/sh\n"
        info.size = len(data)
        archive.addfile(info, io.BytesIO(data))
        info = tarfile.TarInfo("dev/null")
        info.type = tarfile.CHRTYPE
        info.devmajor, info.devminor, info.mode = 1, 3, 0o666
        archive.addfile(info)
    return out.getvalue()


def run_in(root: Path, script: str) -> str:
    return subprocess.run(
        ["chroot", str(root), "/bin/sh", "-c", script],
        check=True,
        capture_output=True,
        text=True,
        timeout=30,
    ).stdout


def test_overlay_is_detected_by_a_real_mount(tmp_path: Path) -> None:
    supported, reason = overlay_supported(tmp_path)
    assert supported, reason
    assert os.listdir(tmp_path) == []
    with Store(tmp_path / "auto") as store:
        assert store.driver == "overlay"


def test_real_nodes_owners_modes_and_xattrs(tmp_path: Path) -> None:
    layer = tar_bytes(
        reg("bin/ping", b"\x7fELF", mode=0o4755, uid=0, xattrs={"security.capability": NET_RAW}),
        reg(
            "home/user/file", b"x", uid=1000, gid=1000, mode=0o600, xattrs={"user.origin": b"layer"}
        ),
        dir_("home/user", uid=1000, gid=1000, mode=0o700),
        node("dev/null", "char", 1, 3, mode=0o666),
        node("dev/loop0", "block", 7, 0, mode=0o660, uid=6),
        node("run/initctl", "fifo", mode=0o600),
        sym("bin/sh", "busybox", uid=1000, gid=1000),
        dir_("tmp", mode=0o1777),
    )
    root = tmp_path / "root"
    root.mkdir()
    apply_layer(io.BytesIO(layer), root)
    ping = os.stat(root / "bin/ping")
    assert stat.S_IMODE(ping.st_mode) == 0o4755  # setuid survives the chown
    assert os.getxattr(root / "bin/ping", "security.capability") == NET_RAW
    home = os.stat(root / "home/user/file")
    assert (home.st_uid, home.st_gid, stat.S_IMODE(home.st_mode)) == (1000, 1000, 0o600)
    assert os.getxattr(root / "home/user/file", "user.origin") == b"layer"
    null = os.lstat(root / "dev/null")
    assert stat.S_ISCHR(null.st_mode) and null.st_rdev == os.makedev(1, 3)
    assert stat.S_IMODE(null.st_mode) == 0o666
    loop = os.lstat(root / "dev/loop0")
    assert stat.S_ISBLK(loop.st_mode) and loop.st_uid == 6
    assert stat.S_ISFIFO(os.lstat(root / "run/initctl").st_mode)
    link = os.lstat(root / "bin/sh")
    assert (link.st_uid, link.st_gid) == (1000, 1000)
    assert stat.S_IMODE(os.stat(root / "tmp").st_mode) == 0o1777
    # and back: the diff carries the same
    out = io.BytesIO()
    diff_dirs(None, root, out.write)
    again = tmp_path / "again"
    again.mkdir()
    apply_layer(io.BytesIO(out.getvalue()), again)
    assert tree(again) == tree(root)
    assert os.getxattr(again / "bin/ping", "security.capability") == NET_RAW
    assert os.lstat(again / "dev/loop0").st_rdev == os.makedev(7, 0)


def test_overlay_style_whiteouts_are_real(tmp_path: Path) -> None:
    upper = tmp_path / "upper"
    upper.mkdir()
    layer = tar_bytes(reg("etc/.wh.hosts"), reg("var/.wh..wh..opq"), reg("var/new", b"n"))
    apply_layer(io.BytesIO(layer), upper, style=Style.OVERLAY)
    whiteout = os.lstat(upper / "etc/hosts")
    assert stat.S_ISCHR(whiteout.st_mode) and whiteout.st_rdev == 0
    assert os.getxattr(upper / "var", "trusted.overlay.opaque") == b"y"


def test_id_mapped_unpack(tmp_path: Path) -> None:
    root = tmp_path / "root"
    root.mkdir()
    layer = tar_bytes(reg("f", b"x", uid=0, gid=0), reg("home/u/g", b"y", uid=1000, gid=100))
    apply_layer(io.BytesIO(layer), root, id_map=IdMap.single(200000, 300000))
    assert (os.stat(root / "f").st_uid, os.stat(root / "f").st_gid) == (200000, 300000)
    assert os.stat(root / "home/u/g").st_uid == 201000
    assert os.stat(root / "home").st_uid == 200000  # implicit parents: the mapped root


def test_busybox_image_runs(store: Store, tmp_path: Path) -> None:
    layer = busybox_layer()
    with store.lease() as lease:
        blob = store.write_blob([compress(layer, "gzip")], lease=lease)
        record = store.unpack(blob.digest, lease=lease, diff_id=Digest.of(layer))
    mounts = store.snapshotter.prepare("container", record.chain_id)
    with mounted(mounts, tmp_path / "rootfs") as root:
        assert run_in(root, "echo hello from $(id -u); cat /etc/passwd") == (
            "hello from 0\nroot:x:0:0:root:/root:/bin/sh\n"
        )
        run_in(root, "echo data > /tmp/written; cat /dev/null")
        assert stat.S_ISCHR(os.lstat(root / "dev/null").st_mode)
    # the container's change, as a layer
    out = io.BytesIO()
    if store.driver == "overlay":
        diff_overlay(store.snapshotter.apply_target("container").path, out.write)
    else:
        parent = store.snapshotter.view("base-view", record.chain_id)[0].source
        diff_dirs(parent, store.snapshotter.apply_target("container").path, out.write)
    with tarfile.open(fileobj=io.BytesIO(out.getvalue())) as archive:
        names = archive.getnames()
    assert "tmp/written" in names and "bin/busybox" not in names


LAYERS = [
    tar_bytes(
        dir_("etc"), reg("etc/a", b"a1"), reg("etc/b", b"b1"),
        dir_("d"), reg("d/x", b"x"), reg("d/y", b"y"),
        reg("f", b"f"), dir_("gone"), reg("gone/inner", b"i"),
    ),
    tar_bytes(
        reg("etc/.wh.a"), reg("d/.wh..wh..opq"), reg("d/z", b"z"),
        reg(".wh.f"), reg(".wh.gone"), reg("new", b"new"),
    ),
    tar_bytes(reg("etc/a", b"a3"), dir_("gone"), reg("gone/fresh", b"fresh")),
]  # fmt: skip
MERGED = {
    "d": "dir 755",
    "d/z": "file 644 b'z'",
    "etc": "dir 755",
    "etc/a": "file 644 b'a3'",
    "etc/b": "file 644 b'b1'",
    "gone": "dir 755",
    "gone/fresh": "file 644 b'fresh'",
    "new": "file 644 b'new'",
}


def test_chain_with_whiteouts_gives_the_merged_view(store: Store, tmp_path: Path) -> None:
    parent = None
    with store.lease() as lease:
        for layer in LAYERS:
            blob = store.write_blob([compress(layer, "zstd")], lease=lease)
            parent = store.unpack(blob.digest, lease=lease, parent=parent).chain_id
    assert parent is not None
    with mounted(store.snapshotter.prepare("c", parent), tmp_path / "mnt") as root:
        assert tree(root) == MERGED
    with mounted(store.snapshotter.view("v", parent), tmp_path / "view") as root:
        assert tree(root) == MERGED


def test_container_changes_round_trip_through_a_diff(tmp_path: Path) -> None:
    with Store(tmp_path / "storage", driver="overlay") as store:
        parent = None
        with store.lease() as lease:
            for layer in LAYERS:
                blob = store.write_blob([layer], lease=lease)
                parent = store.unpack(blob.digest, lease=lease, parent=parent).chain_id
        assert parent is not None
        with mounted(store.snapshotter.prepare("c", parent), tmp_path / "mnt") as root:
            (root / "etc/b").unlink()
            shutil.rmtree(root / "d")
            (root / "d").mkdir()
            (root / "d/only").write_text("only")
            (root / "new").write_text("changed")
            os.chmod(root / "etc", 0o750)
            (root / "added/deep").mkdir(parents=True)
            (root / "added/deep/file").write_text("deep")
            expected = tree(root)
        out = io.BytesIO()
        result = diff_overlay(store.snapshotter.apply_target("c").path, out.write)
        # the diff applied on the parent's full tree (vfs style) gives the same tree
        with mounted(store.snapshotter.view("v", parent), tmp_path / "view") as view:
            flat = tmp_path / "flat"
            flat.mkdir()
            copy_tree(view, flat)
        applied = apply_layer(io.BytesIO(out.getvalue()), flat)
        assert applied.diff_id == result.diff_id
        assert tree(flat) == expected
        # and committed as a layer of its own, through a real overlay mount
        with store.lease() as lease:
            blob = store.write_blob([out.getvalue()], lease=lease)
            top = store.unpack(blob.digest, lease=lease, parent=parent).chain_id
        with mounted(store.snapshotter.view("top", top), tmp_path / "top") as root:
            assert tree(root) == expected
