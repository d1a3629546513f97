"""The image store of an unprivileged user: `capsa` run as nobody (setpriv) on a root of
its own. It picks overlay with `userxattr` where the kernel lets a user namespace mount
it (Linux 5.11), else vfs; loads, lists, saves and removes images; and the mounts it
returns for a container work in the user's own user namespace, whiteouts and opaque
directories included."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parents[2] / "unit" / "transport"))

from transport_images import MemorySource, image_of_tars, layer_tar

from capsa.oci.media_types import Compression
from capsa.transport.copy import copy_image
from capsa.transport.open import open_destination

CAPSA = str(Path(sys.executable).with_name("capsa"))
NOBODY = 65534

# Run as nobody: a container's snapshot on the image's top layer, mounted in a user
# namespace of nobody's own, as a rootless engine would.
MOUNT_SCRIPT = r"""
import json, os, sys
from capsa.kernel.mounts import MS_PRIVATE, MS_REC, mount
from capsa.store.mount import mount_all
from capsa.store.store import Store, enter_own_user_namespace

root, image, target, out = sys.argv[1:]
with Store(root) as store:
    record = store.metadata.resolve_image(image)
    parent = store.metadata.get_layer(record.layers[-1]).snapshot_key
    store.snapshotter.prepare("rootless-test", parent)
    try:
        mounts = store.snapshotter.mounts("rootless-test")
        uid, gid = os.geteuid(), os.getegid()
        pid = os.fork()
        if pid == 0:
            code = 1
            try:
                enter_own_user_namespace(uid, gid)
                mount(None, "/", None, MS_REC | MS_PRIVATE, None)
                mount_all(mounts, target)
                with open(os.path.join(target, "new"), "w") as file:
                    file.write("written by a container")
                result = {
                    "types": [m.type for m in mounts],
                    "options": [list(m.options) for m in mounts],
                    "top": sorted(os.listdir(target)),
                    "dir": sorted(os.listdir(os.path.join(target, "dir"))),
                    "owner": os.stat(os.path.join(target, "dir", "y")).st_uid,
                    "y": open(os.path.join(target, "dir", "y")).read(),
                }
                with open(out, "w") as file:
                    json.dump(result, file)
                code = 0
            except BaseException as error:
                print(repr(error), file=sys.stderr)
            os._exit(code)
        _, status = os.waitpid(pid, 0)
        assert os.waitstatus_to_exitcode(status) == 0
    finally:
        store.snapshotter.remove("rootless-test")
"""


def as_nobody(*args: str, code: int = 0) -> subprocess.CompletedProcess[str]:
    setpriv = shutil.which("setpriv")
    if setpriv is None:
        pytest.skip("setpriv (util-linux) is not installed")
    done = subprocess.run(
        [setpriv, f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups", *args],
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
        env={**os.environ, "HOME": "/nonexistent"},
    )
    assert done.returncode == code, (args, done.stdout, done.stderr)
    return done


def kernel_at_least(major: int, minor: int) -> bool:
    release = os.uname().release.split("-")[0].split(".")
    return (int(release[0]), int(release[1])) >= (major, minor)


def userns_allowed() -> bool:
    try:
        limit = int(Path("/proc/sys/user/max_user_namespaces").read_text())
    except (OSError, ValueError):
        return False
    clone = Path("/proc/sys/kernel/unprivileged_userns_clone")
    return limit > 0 and (not clone.exists() or clone.read_text().strip() == "1")


def test_an_unprivileged_users_store(public_tmp: Path) -> None:
    home = public_tmp / "home"
    home.mkdir()
    os.chown(home, NOBODY, NOBODY)
    image = image_of_tars(
        [
            (layer_tar({"a": b"a", "dir/x": b"x", "keep": b"k"}), Compression.GZIP),
            (layer_tar({".wh.a": b"", "dir/.wh..wh..opq": b"", "dir/y": b"y"}), Compression.NONE),
        ]
    )
    archive = public_tmp / "image.tar"
    dst = open_destination(f"oci-archive:{archive}:example.com/rootless:1")
    copy_image(MemorySource(image.manifest, image.media_type, image.blobs), dst)
    dst.close()
    archive.chmod(0o644)
    root = home / "root"
    capsa = [CAPSA, "--root", str(root)]

    loaded = as_nobody(*capsa, "load", "-i", str(archive)).stdout
    assert loaded == "Loaded image: example.com/rootless:1\n"
    driver = (root / "storage" / "driver").read_text().split()
    if kernel_at_least(5, 11) and userns_allowed():
        assert driver == ["overlay", "userxattr"]
    else:
        assert driver == ["vfs"]
    listing = as_nobody(*capsa, "images", "--format", "{{.Repository}}:{{.Tag}}").stdout
    assert listing == "example.com/rootless:1\n"
    for path in (root / "storage").rglob("*"):
        assert path.lstat().st_uid == NOBODY, path  # every file is the user's

    out = home / "mounted.json"
    target = home / "mnt"
    target.mkdir()
    os.chown(target, NOBODY, NOBODY)
    as_nobody(
        sys.executable,
        "-c",
        MOUNT_SCRIPT,
        str(root / "storage"),
        "example.com/rootless:1",
        str(target),
        str(out),
    )
    seen = json.loads(out.read_text())
    assert seen["top"] == ["dir", "keep", "new"]  # `a` whited out
    assert seen["dir"] == ["y"]  # opaque: x of the lower layer hidden
    assert seen["y"] == "y"
    assert seen["owner"] == 0  # the user's files are root's in the user namespace
    if driver[0] == "overlay":
        assert seen["types"] == ["overlay"] and "userxattr" in seen["options"][0]

    saved = home / "saved.tar"
    as_nobody(
        *capsa, "save", "-q", "--format", "oci-archive", "-o", str(saved), "example.com/rootless:1"
    )
    as_nobody(*capsa, "rmi", "example.com/rootless:1")
    assert as_nobody(*capsa, "images", "-q").stdout == ""
    snapshots = root / "storage" / "snapshots" / driver[0] / "snapshots"
    assert not snapshots.exists() or list(snapshots.iterdir()) == []
    as_nobody(*capsa, "load", "-q", "-i", str(saved))
    as_nobody(*capsa, "image", "prune", "-a", "-f")
    assert not list((root / "storage" / "blobs").rglob("*/*"))
