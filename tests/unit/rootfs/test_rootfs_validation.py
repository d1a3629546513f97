"""Malformed input: an error naming the field, and not a single change to the system."""

from __future__ import annotations

from typing import Any

import pytest
from rootfs_fakes import BUNDLE, ROOT, make_fake, make_spec

from capsa.errors import InvalidArgument, Unavailable
from capsa.runtime.rootfs import finalize_rootfs, prepare_rootfs

CHANGES = {"mount", "mkdirat", "mknodat", "symlinkat", "unlinkat", "openat", "pivot_root"}


def prepare(spec: dict[str, Any]) -> None:
    fake = make_fake()
    fake.add_dir("/host/data")
    try:
        prepare_rootfs(spec, BUNDLE, fake, user_namespace=False, cgroup_namespace=False)
    finally:
        assert not CHANGES & {call.name for call in fake.calls}


def error(spec: dict[str, Any]) -> str:
    with pytest.raises(InvalidArgument) as caught:
        prepare(spec)
    return str(caught.value)


def with_mount(**entry: Any) -> dict[str, Any]:
    ok = {"destination": "/proc", "type": "proc", "source": "proc"}
    return make_spec(ok, ok, entry)


@pytest.mark.parametrize(
    ("mount", "message"),
    [
        ({"type": "tmpfs"}, "invalid mounts[2].destination: must be a string"),
        ({"destination": "", "type": "tmpfs"}, "invalid mounts[2].destination: must not be empty"),
        ({"destination": 7, "type": "tmpfs"}, "invalid mounts[2].destination: must be a string"),
        ({"destination": "/x\0y", "type": "tmpfs"}, "mounts[2].destination: must not contain"),
        ({"destination": "/", "type": "tmpfs"}, "mounts[2].destination: must not be the contai"),
        ({"destination": "/x/../..", "type": "tmpfs"}, "mounts[2].destination: must not be the"),
        ({"destination": "/x"}, "invalid mounts[2].type: is required unless the mount is a bind"),
        ({"destination": "/x", "type": 3}, "invalid mounts[2].type: must be a string"),
        ({"destination": "/x", "type": "tmpfs", "source": 1}, "mounts[2].source: must be a str"),
        ({"destination": "/x", "type": "tmpfs", "options": "ro"}, "mounts[2].options: must be an"),
        ({"destination": "/x", "type": "tmpfs", "options": [1]}, "mounts[2].options[0]: must be"),
        ({"destination": "/x", "options": ["bind"]}, "mounts[2].source: is required for a bind"),
        (
            {"destination": "/x", "source": "/missing", "options": ["rbind"]},
            "invalid mounts[2].source: /missing: No such file or directory",
        ),
        (
            {"destination": "/x", "source": "data", "options": ["rbind"]},
            "invalid mounts[2].source: /bundle/data: No such file or directory",
        ),
        ({"destination": "/proc", "type": "tmpfs"}, "mounts[2].destination: only a proc filesyst"),
    ],
)
def test_bad_mount_entry(mount: dict[str, Any], message: str) -> None:
    assert message in error(with_mount(**mount))


def test_mount_entry_must_be_an_object() -> None:
    assert "invalid mounts[0]: must be an object" in error(make_spec("/proc"))  # type: ignore[arg-type]


def test_mounts_must_be_an_array() -> None:
    spec = make_spec()
    spec["mounts"] = {"destination": "/proc"}
    assert "invalid mounts: must be an array" in error(spec)


def test_unsupported_option_is_refused_before_anything_happens() -> None:
    with pytest.raises(Unavailable, match=r"mounts\[2\]\.options\[0\]: .*tmpcopyup"):
        prepare(with_mount(destination="/run", type="tmpfs", options=["tmpcopyup"]))


@pytest.mark.parametrize(
    ("root", "message"),
    [
        (None, "invalid root: is required"),
        ("rootfs", "invalid root: must be an object"),
        ({}, "invalid root.path: must be a string"),
        ({"path": ""}, "invalid root.path: must not be empty"),
        ({"path": "rootfs", "readonly": "yes"}, "invalid root.readonly: must be a boolean"),
        ({"path": "nothere"}, "invalid root.path: /bundle/nothere: No such file or directory"),
        ({"path": "rootfs/etc/passwd"}, "root.path: /bundle/rootfs/etc/passwd is not a directory"),
    ],
)
def test_bad_root(root: Any, message: str) -> None:
    spec = make_spec()
    if root is None:
        del spec["root"]
    else:
        spec["root"] = root
    fake = make_fake()
    fake.add_file(f"{ROOT}/etc/passwd")
    with pytest.raises(InvalidArgument) as caught:
        prepare_rootfs(spec, BUNDLE, fake, user_namespace=False, cgroup_namespace=False)
    assert message in str(caught.value)
    assert not CHANGES & {call.name for call in fake.calls}


def test_absolute_root_path_is_used_as_is() -> None:
    fake = make_fake()
    spec = make_spec()
    spec["root"] = {"path": ROOT}
    prepare_rootfs(spec, BUNDLE / "elsewhere", fake, user_namespace=False, cgroup_namespace=False)
    assert fake.named("mount")[1].args[:2] == (ROOT, ROOT)


@pytest.mark.parametrize(
    ("device", "message"),
    [
        ("/dev/fuse", "invalid linux.devices[0]: must be an object"),
        ({"type": "c", "major": 1, "minor": 3}, "linux.devices[0].path: must be a string"),
        ({"path": "dev/x", "type": "c", "major": 1, "minor": 3}, "must be an absolute path"),
        ({"path": "/", "type": "c", "major": 1, "minor": 3}, "must not be the container's root"),
        ({"path": "/dev/x", "type": "x", "major": 1, "minor": 3}, "devices[0].type: must be one"),
        ({"path": "/dev/x", "major": 1, "minor": 3}, "invalid linux.devices[0].type: must be one"),
        ({"path": "/dev/x", "type": "c", "minor": 3}, "devices[0].major: is required for a devi"),
        ({"path": "/dev/x", "type": "b", "major": 8}, "devices[0].minor: is required for a devi"),
        ({"path": "/dev/x", "type": "c", "major": -1, "minor": 3}, "devices[0].major: must be b"),
        ({"path": "/dev/x", "type": "c", "major": 1, "minor": "3"}, "minor: must be an integer"),
        ({"path": "/dev/x", "type": "c", "major": True, "minor": 3}, "major: must be an integer"),
        (
            {"path": "/dev/x", "type": "c", "major": 1, "minor": 3, "fileMode": -5},
            "invalid linux.devices[0].fileMode: must be between 0 and",
        ),
        ({"path": "/dev/x", "type": "p", "uid": "root"}, "linux.devices[0].uid: must be an integ"),
        ({"path": "/dev/x", "type": "p", "gid": 1 << 40}, "linux.devices[0].gid: must be between"),
    ],
)
def test_bad_device(device: Any, message: str) -> None:
    assert message in error(make_spec(devices=[device]))


def test_devices_must_be_an_array() -> None:
    assert "invalid linux.devices: must be an array" in error(make_spec(devices={}))


@pytest.mark.parametrize("key", ["maskedPaths", "readonlyPaths"])
def test_protected_paths_must_be_absolute(key: str) -> None:
    assert f"invalid linux.{key}[1]: must be an absolute path" in error(
        make_spec(**{key: ["/proc/kcore", "proc/keys"]})
    )
    with pytest.raises(InvalidArgument, match=rf"linux\.{key}\[0\]: must be a string"):
        finalize_rootfs(make_spec(**{key: [None]}), make_fake())


def test_bad_rootfs_propagation() -> None:
    message = error(make_spec(rootfsPropagation="rwhatever"))
    assert "invalid linux.rootfsPropagation: must be one of private, rprivate" in message


def test_mount_label_must_be_a_string_and_is_otherwise_ignored() -> None:
    assert "invalid linux.mountLabel: must be a string" in error(make_spec(mountLabel=5))
    spec = make_spec(mountLabel="system_u:object_r:svirt_sandbox_file_t:s0:c1,c2")
    prepare_rootfs(spec, BUNDLE, make_fake(), user_namespace=False, cgroup_namespace=False)


def test_linux_must_be_an_object() -> None:
    spec = make_spec()
    spec["linux"] = []
    with pytest.raises(InvalidArgument, match=r"linux\.namespaces: a mount namespace is required"):
        prepare(spec)


def test_a_mount_namespace_is_required() -> None:
    spec = make_spec()
    spec["linux"]["namespaces"] = [{"type": "pid"}]
    with pytest.raises(InvalidArgument, match=r"invalid linux\.namespaces: a mount namespace"):
        prepare(spec)
    with pytest.raises(InvalidArgument, match=r"invalid linux\.namespaces: a mount namespace"):
        finalize_rootfs(spec, make_fake())


def test_finalize_validates_root_readonly() -> None:
    spec = make_spec()
    spec["root"]["readonly"] = 1
    fake = make_fake()
    with pytest.raises(InvalidArgument, match=r"invalid root\.readonly: must be a boolean"):
        finalize_rootfs(spec, fake)
    assert not fake.named("mount")
