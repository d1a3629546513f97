"""Mode detection, mountinfo and /proc/self/cgroup parsing, cgroupsPath placement."""

from __future__ import annotations

import pytest
from cgroups_fakehost import (
    HYBRID_MOUNTINFO,
    HYBRID_PROC_CGROUP,
    OWN_MEMORY,
    V1_MOUNTINFO,
    V2_MOUNTINFO,
    FakeHost,
    manager_for,
)

from capsa.cgroups import detect_mode, load_manager
from capsa.cgroups.layout import (
    CgroupLayout,
    Hierarchy,
    parse_mountinfo,
    parse_proc_cgroup,
)
from capsa.cgroups.manager import create_manager, is_systemd_path, resolve_path
from capsa.errors import InvalidArgument, Unavailable

SYS = "/sys/fs/cgroup"


def test_this_hosts_exact_layout_is_hybrid() -> None:
    mountinfo = HYBRID_MOUNTINFO.format(root=SYS)
    assert detect_mode(mountinfo) == "hybrid"
    layout = CgroupLayout.parse(mountinfo, HYBRID_PROC_CGROUP)
    assert layout.mode == "hybrid"
    by_key = {h.mount.key: h for h in layout.v1}
    # cpu and cpuacct are separate hierarchies here, not "cpu,cpuacct".
    assert set(by_key) == {
        "cpu",
        "cpuacct",
        "cpuset",
        "memory",
        "devices",
        "freezer",
        "blkio",
        "pids",
        "name=systemd",
    }
    assert by_key["cpu"].mount.mountpoint == f"{SYS}/cpu"
    assert by_key["memory"].own_path == OWN_MEMORY
    assert by_key["pids"].own_path == "/"
    assert layout.unified is not None
    assert layout.unified.mount.mountpoint == f"{SYS}/unified"
    assert layout.unified.own_path == "/"


def test_pure_v2_and_pure_v1() -> None:
    assert detect_mode(V2_MOUNTINFO.format(root=SYS)) == "v2"
    assert detect_mode(V1_MOUNTINFO.format(root=SYS)) == "v1"


def test_v2_with_a_legacy_name_systemd_hierarchy_is_v2() -> None:
    mountinfo = V2_MOUNTINFO.format(root=SYS) + (
        f"40 30 0:37 / {SYS}/systemd rw - cgroup cgroup rw,xattr,name=systemd\n"
    )
    assert detect_mode(mountinfo) == "v2"
    layout = CgroupLayout.parse(mountinfo, "0::/\n1:name=systemd:/\n")
    assert layout.v1 == ()  # a v2 host uses only the unified hierarchy


def test_no_cgroup_mount_is_unavailable() -> None:
    with pytest.raises(Unavailable, match="no cgroup file system"):
        detect_mode("27 1 254:0 / / rw - ext4 /dev/vda rw\n")


def test_co_mounted_controllers_share_one_hierarchy() -> None:
    mounts = parse_mountinfo(V1_MOUNTINFO.format(root=SYS))
    cpu = next(m for m in mounts if "cpu" in m.controllers)
    assert cpu.controllers == {"cpu", "cpuacct"}
    assert cpu.key == "cpu,cpuacct"
    assert cpu.mountpoint == f"{SYS}/cpu,cpuacct"


def test_mount_options_are_not_controllers_and_bind_mounts_are_skipped() -> None:
    text = (
        "1 0 0:1 / /a rw - cgroup cgroup rw,nosuid,memory,clone_children,xattr\n"
        "2 0 0:1 / /b rw - cgroup cgroup rw,memory\n"
        "3 0 0:2 / /c rw - cgroup cgroup rw,name=other\n"
    )
    mounts = parse_mountinfo(text)
    assert [(m.mountpoint, m.controllers, m.name) for m in mounts] == [
        ("/a", frozenset({"memory"}), None),
        ("/c", frozenset(), "other"),
    ]


def test_escaped_mount_points_and_optional_fields() -> None:
    text = "5 1 0:3 / /sys/fs/my\\040cgroup rw shared:4 master:2 - cgroup2 cgroup2 rw\n"
    (mount,) = parse_mountinfo(text)
    assert mount.mountpoint == "/sys/fs/my cgroup"
    assert mount.version == 2


def test_proc_cgroup_parsing() -> None:
    own = parse_proc_cgroup("3:cpu,cpuacct:/a:b\n0::/x/y\n1:name=systemd:/s\n")
    assert own["cpu,cpuacct"] == own["cpu"] == own["cpuacct"] == "/a:b"
    assert own[""] == "/x/y"
    assert own["name=systemd"] == "/s"


@pytest.mark.parametrize(
    ("root", "own", "expected"),
    [
        ("/", "/a/b", "/a/b"),
        ("/a", "/a/b", "/b"),
        ("/a", "/a", "/"),
        ("/a", "/ab", None),  # not below the mount's root: not visible through it
        ("/a", None, None),
    ],
)
def test_own_cgroup_relative_to_a_bind_mounted_root(
    root: str, own: str | None, expected: str | None
) -> None:
    (mount,) = parse_mountinfo(f"1 0 0:1 {root} /m rw - cgroup cgroup rw,memory\n")
    assert Hierarchy(mount, own).own_relative == expected


# -- cgroupsPath ------------------------------------------------------------------------


def test_absolute_path_lands_below_every_mount_point(hybrid: FakeHost) -> None:
    paths = manager_for(hybrid, "/capsa/ctr").paths()
    assert paths["memory"] == hybrid.path("memory", "/capsa/ctr")
    assert paths["cpu"] == hybrid.path("cpu", "/capsa/ctr")
    assert paths["cpuacct"] == hybrid.path("cpuacct", "/capsa/ctr")
    assert paths["name=systemd"] == hybrid.path("systemd", "/capsa/ctr")
    assert paths["unified"] == hybrid.path("unified", "/capsa/ctr")
    assert "hugetlb" not in paths  # hugetlb lives in the unified hierarchy here


def test_relative_path_is_below_our_own_cgroup(hybrid: FakeHost) -> None:
    paths = manager_for(hybrid, "box/ctr").paths()
    assert paths["memory"] == hybrid.path("memory", f"{OWN_MEMORY}/box/ctr")
    assert paths["pids"] == hybrid.path("pids", "/box/ctr")
    assert paths["unified"] == hybrid.path("unified", "/box/ctr")


def test_relative_path_on_v2_is_below_the_parent_of_our_own_cgroup(v2: FakeHost) -> None:
    # Our own cgroup holds processes, so no controller could be enabled below it.
    paths = manager_for(v2, "box/ctr").paths()
    assert paths == {"unified": str(v2.root) + "/user.slice/user-1000.slice/box/ctr"}


def test_co_mounted_controllers_get_the_same_directory(v1: FakeHost) -> None:
    paths = manager_for(v1, "/capsa/ctr").paths()
    assert paths["cpu"] == paths["cpuacct"] == v1.path("cpu,cpuacct", "/capsa/ctr")
    assert paths["net_cls"] == paths["net_prio"]
    assert "unified" not in paths


def test_default_path_uses_the_parent_and_container_id(hybrid: FakeHost) -> None:
    manager = create_manager(None, "abc", layout=hybrid.layout, files=hybrid.files)
    assert manager.paths()["memory"] == hybrid.path("memory", "/capsa/abc")
    manager = create_manager(
        None, "abc", default_parent="machine", layout=hybrid.layout, files=hybrid.files
    )
    assert manager.paths()["pids"] == hybrid.path("pids", "/machine/abc")


def test_rootless_default_path_is_relative(hybrid: FakeHost) -> None:
    manager = create_manager(None, "abc", rootless=True, layout=hybrid.layout, files=hybrid.files)
    assert manager.paths()["memory"] == hybrid.path("memory", f"{OWN_MEMORY}/capsa/abc")


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("/a/b", (True, "a/b")),
        ("a/b", (False, "a/b")),
        ("/a/../../../etc", (True, "etc")),
        ("../../x", (False, "x")),
        ("//a//b/", (True, "a/b")),
        ("/a/./b", (True, "a/b")),
    ],
)
def test_path_cleaning_never_climbs_above_the_base(given: str, expected: tuple[bool, str]) -> None:
    assert resolve_path(given, "ctr") == expected


@pytest.mark.parametrize("given", ["/", "/..", ".", "a/.."])
def test_the_root_itself_is_refused(given: str) -> None:
    with pytest.raises(InvalidArgument, match=r"linux\.cgroupsPath"):
        resolve_path(given, "ctr")


@pytest.mark.parametrize("bad_id", ["", ".", "..", "a/b"])
def test_bad_container_ids(bad_id: str) -> None:
    with pytest.raises(InvalidArgument, match="container ID"):
        resolve_path(None, bad_id)


def test_systemd_paths_and_manager_are_unavailable(hybrid: FakeHost) -> None:
    with pytest.raises(Unavailable, match="systemd"):
        create_manager("system.slice:capsa:ctr", "ctr", layout=hybrid.layout)
    with pytest.raises(Unavailable, match="systemd cgroup manager") as info:
        create_manager(None, "ctr", systemd=True, layout=hybrid.layout)
    assert info.value.hint is not None and "cgroupfs" in info.value.hint


def test_paths_round_trip_through_load_manager(hybrid: FakeHost) -> None:
    manager = manager_for(hybrid)
    again = load_manager(manager.paths(), files=hybrid.files)
    assert again.paths() == manager.paths()
    assert again.mode == manager.mode == "hybrid"


def test_load_manager_refuses_unclean_paths() -> None:
    with pytest.raises(InvalidArgument, match="clean absolute"):
        load_manager({"memory": "/sys/fs/cgroup/memory/../x"})
    with pytest.raises(InvalidArgument, match="clean absolute"):
        load_manager({"unified": "relative/path"})


def test_modes_of_managers(v1: FakeHost, v2: FakeHost, hybrid: FakeHost) -> None:
    assert manager_for(v1).mode == "v1"
    assert manager_for(v2).mode == "v2"
    assert manager_for(hybrid).mode == "hybrid"


# The regular expression is_systemd_path replaced (re is too slow to import on a start).
SYSTEMD_PATH_RE = r"^[^/:]*:[^/:]*:[^/:]+$"


@pytest.mark.parametrize(
    "path",
    [
        "system.slice:capsa:ctr",
        "::ctr",
        ":capsa:ctr",
        "system.slice::ctr",
        "a:b:",
        "a:b:c:d",
        "a:b",
        "/a:b:c",
        "a:b/c:d",
        "a:b:c/",
        "a:b:c\n",
        "a:b:\n",
        "a:b\n:c",
        "",
        ":",
        "::",
        ":::",
        "/capsa/ctr",
        "capsa/ctr",
        "é:ü:ß",
    ],
)
def test_systemd_path_detection_matches_the_regular_expression(path: str) -> None:
    import re

    assert is_systemd_path(path) == bool(re.match(SYSTEMD_PATH_RE, path))


def test_a_pinned_layout_is_what_every_later_detect_returns(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from capsa.cgroups import layout

    texts = {
        "/proc/self/mountinfo": HYBRID_MOUNTINFO.format(root=SYS),
        "/proc/self/cgroup": HYBRID_PROC_CGROUP,
    }
    reads: list[str] = []

    def read(path: str) -> str:
        reads.append(path)
        return texts[path]

    monkeypatch.setattr(layout, "_read", read)
    monkeypatch.setattr(layout, "_pinned", None)
    pinned = layout.pin_layout()
    assert pinned.mode == "hybrid" and len(reads) == 2
    texts["/proc/self/mountinfo"] = V2_MOUNTINFO.format(root=SYS)  # would read differently
    assert CgroupLayout.detect() is pinned and len(reads) == 2
    monkeypatch.setattr(layout, "_pinned", None)
    assert CgroupLayout.detect().mode == "v2"
