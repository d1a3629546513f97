"""pids, blockIO, hugepageLimits, network, rdma, unified; validation; routing of each
controller to the hierarchy that has it; nothing written that was not asked for."""

from __future__ import annotations

from typing import Any

import pytest
from cgroups_fakehost import FakeHost, created

from capsa.cgroups.blkio import weight_to_io_weight
from capsa.cgroups.hugetlb import kernel_page_size
from capsa.cgroups.unified import is_file_name
from capsa.errors import InvalidArgument, PermissionDenied, Unavailable

MiB = 1 << 20


def test_nothing_asked_nothing_written(hybrid: FakeHost, v2: FakeHost) -> None:
    for host in (hybrid, v2):
        m = created(host)
        m.apply(None)
        m.apply({})
        m.apply(
            {
                "memory": {},
                "cpu": {},
                "pids": None,
                "blockIO": {},
                "network": {},
                "hugepageLimits": [],
                "devices": [],
                "rdma": {},
                "unified": {},
            }
        )
        assert host.files.writes == []


def test_one_limit_one_write(v2: FakeHost) -> None:
    m = created(v2)
    m.apply({"memory": {"limit": 64 * MiB}})
    assert v2.files.writes == [(v2.path("", "/capsa/ctr/memory.max"), str(64 * MiB))]


# -- pids -------------------------------------------------------------------------------


@pytest.mark.parametrize(("limit", "written"), [(32, "32"), (-1, "max"), (0, "max")])
def test_pids(hybrid: FakeHost, v2: FakeHost, limit: int, written: str) -> None:
    for host, hierarchy in ((hybrid, "pids"), (v2, "")):
        m = created(host)
        m.apply({"pids": {"limit": limit}})
        assert host.files.writes == [(host.path(hierarchy, "/capsa/ctr/pids.max"), written)]


def test_pids_limit_is_required_and_checked(hybrid: FakeHost) -> None:
    m = created(hybrid)
    with pytest.raises(InvalidArgument, match=r"pids\.limit: is required"):
        m.apply({"pids": {}})
    with pytest.raises(InvalidArgument, match=r"pids\.limit"):
        m.apply({"pids": {"limit": -2}})


# -- blockIO ----------------------------------------------------------------------------

BLOCK_IO: dict[str, Any] = {
    "weight": 500,
    "weightDevice": [{"major": 8, "minor": 0, "weight": 300}],
    "throttleReadBpsDevice": [{"major": 8, "minor": 0, "rate": 600}],
    "throttleWriteIOPSDevice": [{"major": 8, "minor": 16, "rate": 0}],
}


def test_v1_blkio_with_bfq(hybrid: FakeHost) -> None:
    m = created(hybrid)
    m.apply({"blockIO": BLOCK_IO})
    d = hybrid.path("blkio", "/capsa/ctr")
    assert hybrid.files.writes == [
        (f"{d}/blkio.bfq.weight", "500"),
        (f"{d}/blkio.bfq.weight_device", "8:0 300"),
        (f"{d}/blkio.throttle.read_bps_device", "8:0 600"),
        (f"{d}/blkio.throttle.write_iops_device", "8:16 0"),
    ]


def test_v1_blkio_weight_without_a_weighted_scheduler(hybrid: FakeHost) -> None:
    m = created(hybrid)
    import os

    os.unlink(hybrid.path("blkio", "/capsa/ctr/blkio.bfq.weight"))
    with pytest.raises(Unavailable, match="CFQ or BFQ"):
        m.apply({"blockIO": {"weight": 500}})
    m.apply({"blockIO": {"throttleReadBpsDevice": [{"major": 8, "minor": 0, "rate": 1}]}})


def test_v2_io(v2: FakeHost) -> None:
    m = created(v2)
    m.apply({"blockIO": BLOCK_IO})
    d = v2.path("", "/capsa/ctr")
    assert v2.files.writes == [
        (f"{d}/io.weight", str(weight_to_io_weight(500))),
        (f"{d}/io.weight", f"8:0 {weight_to_io_weight(300)}"),
        (f"{d}/io.max", "8:0 rbps=600"),
        (f"{d}/io.max", "8:16 wiops=max"),  # 0 lifts the limit, as on v1
    ]


@pytest.mark.parametrize(("weight", "io"), [(10, 1), (1000, 10000), (500, 4950), (100, 910)])
def test_io_weight_conversion(weight: int, io: int) -> None:
    assert weight_to_io_weight(weight) == io


def test_v2_leaf_weight_is_unavailable(v2: FakeHost) -> None:
    m = created(v2)
    with pytest.raises(Unavailable, match="leaf"):
        m.apply({"blockIO": {"leafWeight": 10}})


def test_blkio_entry_validation(hybrid: FakeHost) -> None:
    m = created(hybrid)
    with pytest.raises(InvalidArgument, match=r"weightDevice\[0\]: needs weight or leafWeight"):
        m.apply({"blockIO": {"weightDevice": [{"major": 8, "minor": 0}]}})
    with pytest.raises(InvalidArgument, match=r"throttleReadBpsDevice\[0\]\.rate: is required"):
        m.apply({"blockIO": {"throttleReadBpsDevice": [{"major": 8, "minor": 0}]}})
    with pytest.raises(InvalidArgument, match=r"blockIO\.weight: must be between 0 and 65535"):
        m.apply({"blockIO": {"weight": 70000}})


# -- hugepageLimits ---------------------------------------------------------------------


def test_hugetlb_goes_to_the_unified_hierarchy_on_this_hybrid_host(hybrid: FakeHost) -> None:
    m = created(hybrid)
    m.apply({"hugepageLimits": [{"pageSize": "2MB", "limit": 4 * MiB}]})
    d = hybrid.path("unified", "/capsa/ctr")
    assert hybrid.files.writes == [
        (f"{d}/hugetlb.2MB.rsvd.max", str(4 * MiB)),
        (f"{d}/hugetlb.2MB.max", str(4 * MiB)),
    ]


def test_hugetlb_controller_is_enabled_in_the_unified_parents(make_host: Any) -> None:
    from cgroups_fakehost import manager_for

    host = make_host("hybrid")
    manager_for(host).create()
    assert host.files.written("cgroup.subtree_control") == ["+hugetlb", "+hugetlb"]
    assert host.files.written_to()[-2:] == [
        host.path("unified", "/cgroup.subtree_control"),
        host.path("unified", "/capsa/cgroup.subtree_control"),
    ]


def test_hugetlb_on_v1(v1: FakeHost) -> None:
    m = created(v1)
    m.apply({"hugepageLimits": [{"pageSize": "1GB", "limit": 1 << 30}]})
    assert v1.files.writes == [
        (v1.path("hugetlb", "/capsa/ctr/hugetlb.1GB.limit_in_bytes"), str(1 << 30))
    ]


def test_unknown_page_size(hybrid: FakeHost) -> None:
    m = created(hybrid)
    with pytest.raises(Unavailable, match="no 64KB huge pages"):
        m.apply({"hugepageLimits": [{"pageSize": "64KB", "limit": 1}]})


@pytest.mark.parametrize(
    ("given", "kernel"), [("2MB", "2MB"), ("2048KB", "2MB"), ("1024MB", "1GB"), ("64KB", "64KB")]
)
def test_page_size_names(given: str, kernel: str) -> None:
    assert kernel_page_size(given, "x") == kernel


@pytest.mark.parametrize("bad", ["2M", "2mb", "0MB", "02MB", "MB", "2TB", "-2MB"])
def test_bad_page_sizes(bad: str) -> None:
    with pytest.raises(InvalidArgument, match="must look like"):
        kernel_page_size(bad, "x")


# -- network, rdma ----------------------------------------------------------------------


def test_network_on_v1(v1: FakeHost) -> None:
    m = created(v1)
    m.apply(
        {
            "network": {
                "classID": 1048577,
                "priorities": [{"name": "eth0", "priority": 500}, {"name": "lo", "priority": 1}],
            }
        }
    )
    d = v1.path("net_cls,net_prio", "/capsa/ctr")
    assert v1.files.writes == [
        (f"{d}/net_cls.classid", "1048577"),
        (f"{d}/net_prio.ifpriomap", "eth0 500"),
        (f"{d}/net_prio.ifpriomap", "lo 1"),
    ]


def test_settings_that_ask_for_nothing_need_no_controller(v2: FakeHost) -> None:
    m = created(v2)
    import os

    os.unlink(v2.path("", "/capsa/ctr/cgroup.controllers"))
    with open(v2.path("", "/capsa/ctr/cgroup.controllers"), "w") as f:
        f.write("pids\n")  # no memory controller in this cgroup
    m.apply({"memory": {"disableOOMKiller": False, "limit": 0}, "pids": {"limit": 3}})
    with pytest.raises(Unavailable, match=r"memory\.limit.*not available|memory controller"):
        m.apply({"memory": {"limit": MiB}})


def test_network_where_the_host_has_no_such_controller(hybrid: FakeHost, v2: FakeHost) -> None:
    for host in (hybrid, v2):
        m = created(host)
        m.apply({"network": {}})  # asks for nothing: fine
        with pytest.raises(Unavailable, match=r"network\.classID.*net_cls"):
            m.apply({"network": {"classID": 1}})
        assert host.files.writes == []


def test_rdma_on_v2(v2: FakeHost) -> None:
    m = created(v2)
    m.apply({"rdma": {"mlx5_1": {"hcaHandles": 3, "hcaObjects": 10000}, "rxe3": {"hcaObjects": 5}}})
    assert v2.files.written("rdma.max") == [
        "mlx5_1 hca_handle=3 hca_object=10000",
        "rxe3 hca_object=5",
    ]
    with pytest.raises(InvalidArgument, match="needs hcaHandles or hcaObjects"):
        m.apply({"rdma": {"mlx4_0": {}}})


def test_rdma_unavailable_on_this_hybrid_host(hybrid: FakeHost) -> None:
    m = created(hybrid)
    with pytest.raises(Unavailable, match="rdma"):
        m.apply({"rdma": {"mlx5_1": {"hcaHandles": 3}}})


# -- unified ----------------------------------------------------------------------------


def test_unified_on_v2_is_written_last_line_by_line(v2: FakeHost) -> None:
    m = created(v2)
    m.apply(
        {
            "unified": {"io.max": "259:0 rbps=2097152\n253:0 wiops=120", "memory.high": "1G"},
            "memory": {"limit": 2 << 30},
        }
    )
    d = v2.path("", "/capsa/ctr")
    assert v2.files.writes == [
        (f"{d}/memory.max", str(2 << 30)),
        (f"{d}/io.max", "259:0 rbps=2097152"),
        (f"{d}/io.max", "253:0 wiops=120"),
        (f"{d}/memory.high", "1G"),
    ]


def test_unified_on_hybrid(hybrid: FakeHost) -> None:
    m = created(hybrid)
    m.apply({"unified": {"hugetlb.2MB.max": "4194304"}})
    assert hybrid.files.writes == [
        (hybrid.path("unified", "/capsa/ctr/hugetlb.2MB.max"), "4194304")
    ]
    with pytest.raises(Unavailable, match="memory controller is bound to a cgroup v1"):
        m.apply({"unified": {"memory.high": "1G"}})
    with pytest.raises(Unavailable, match="rdma controller is not available"):
        m.apply({"unified": {"rdma.max": "x"}})


def test_unified_on_v1(v1: FakeHost) -> None:
    m = created(v1)
    with pytest.raises(Unavailable, match="no cgroup v2"):
        m.apply({"unified": {"memory.high": "1G"}})


@pytest.mark.parametrize("key", ["../memory.max", "memory", "/etc/passwd", "a/b.c", ".x", ""])
def test_unified_bad_keys(v2: FakeHost, key: str) -> None:
    m = created(v2)
    with pytest.raises(InvalidArgument, match="must name a cgroup v2 file"):
        m.apply({"unified": {key: "1"}})


@pytest.mark.parametrize("key", ["cgroup.procs", "cgroup.kill", "cgroup.freeze"])
def test_unified_refuses_process_control_files(v2: FakeHost, key: str) -> None:
    m = created(v2)
    with pytest.raises(InvalidArgument, match="is not a setting"):
        m.apply({"unified": {key: "1"}})
    m.apply({"unified": {"cgroup.max.depth": "3"}})


def test_unified_values_must_be_strings(v2: FakeHost) -> None:
    m = created(v2)
    with pytest.raises(InvalidArgument, match=r'unified\["memory.high"\]: must be a string'):
        m.apply({"unified": {"memory.high": 1}})


# -- validation -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("resources", "message"),
    [
        ({"memory": {"limit": "1G"}}, r"linux\.resources\.memory\.limit: must be an integer"),
        ({"memory": {"limit": True}}, r"memory\.limit: must be an integer"),
        ({"memory": {"limit": 1.5}}, r"memory\.limit: must be an integer"),
        ({"memory": {"limit": -5}}, r"memory\.limit: must be -1 \(unlimited\)"),
        ({"memory": {"swappiness": 101}}, r"memory\.swappiness: must be 0 to 100"),
        ({"memory": {"swap": 10, "limit": 20}}, r"memory\.swap: must be -1 or at least"),
        ({"memory": {"disableOOMKiller": "yes"}}, r"disableOOMKiller: must be true or false"),
        ({"memory": []}, r"linux\.resources\.memory: must be an object"),
        ({"cpu": {"shares": -1}}, r"cpu\.shares: must be between 0 and"),
        ({"cpu": {"idle": 2}}, r"cpu\.idle: must be 0 or 1"),
        ({"cpu": {"cpus": 3}}, r"cpu\.cpus: must be a string"),
        ({"hugepageLimits": {}}, r"hugepageLimits: must be an array"),
        ({"hugepageLimits": [{"pageSize": "2MB"}]}, r"hugepageLimits\[0\]\.limit: is required"),
        ({"devices": [{"access": "rwm"}]}, r"devices\[0\]\.allow: is required"),
        ({"devices": [{"allow": True, "type": "x"}]}, r"devices\[0\]\.type"),
        ({"devices": [{"allow": True, "access": "rx"}]}, r"devices\[0\]\.access"),
        ({"devices": [{"allow": True, "major": -2}]}, r"devices\[0\]\.major"),
        ({"devices": ["a"]}, r"devices\[0\]: must be an object"),
        ({"network": {"priorities": [{"name": "eth 0", "priority": 1}]}}, r"priorities\[0\]\.name"),
    ],
)
def test_validation_names_the_field_and_writes_nothing(
    hybrid: FakeHost, resources: dict[str, Any], message: str
) -> None:
    m = created(hybrid)
    with pytest.raises(InvalidArgument, match=message):
        m.apply({"pids": {"limit": 10}, **resources})
    assert hybrid.files.writes == []


def test_resources_must_be_an_object(hybrid: FakeHost) -> None:
    m = created(hybrid)
    with pytest.raises(InvalidArgument, match=r"linux\.resources: must be an object"):
        m.apply([])  # type: ignore[arg-type]


def test_an_unavailable_controller_stops_everything_before_any_write(hybrid: FakeHost) -> None:
    m = created(hybrid)
    with pytest.raises(Unavailable):
        m.apply({"memory": {"limit": MiB}, "rdma": {"mlx5_1": {"hcaHandles": 1}}})
    assert hybrid.files.writes == []


def test_kernel_refusals_name_the_field_and_file(hybrid: FakeHost) -> None:
    m = created(hybrid)
    import os

    os.unlink(hybrid.path("pids", "/capsa/ctr/pids.max"))
    with pytest.raises(
        Unavailable,
        match=r"cannot set linux\.resources\.pids\.limit: writing "
        r"'5' to .*pids\.max",
    ):
        m.apply({"pids": {"limit": 5}})


def test_rootless_skips_hierarchies_it_cannot_create(hybrid: FakeHost) -> None:
    from cgroups_fakehost import manager_for

    m = manager_for(hybrid, rootless=True)
    memory_parent = hybrid.path("memory", "/capsa")
    os_mkdir = hybrid.files.mkdir

    def mkdir(path: str) -> bool:
        if path.startswith(memory_parent):
            raise PermissionError(13, "Permission denied", path)
        return os_mkdir(path)

    hybrid.files.mkdir = mkdir  # type: ignore[method-assign]
    m.create()
    assert "memory" not in m.paths()
    m.apply({"pids": {"limit": 5}})
    with pytest.raises(PermissionDenied, match="no memory cgroup"):
        m.apply({"memory": {"limit": MiB}})


# The regular expression is_file_name replaced (re is too slow to import on a start).
UNIFIED_NAME_RE = r"^[a-z][a-z0-9_]*\.[A-Za-z0-9_.]+$"


@pytest.mark.parametrize(
    "name",
    [
        "memory.high",
        "io.bfq.weight",
        "hugetlb.2MB.max",
        "cgroup.procs",
        "misc_1.max",
        "memory.",
        ".high",
        "Memory.high",
        "1memory.high",
        "memory",
        "memory..high",
        "memory.high\n",
        "memory.high\n\n",
        "memory.high ",
        "memory.hi-gh",
        "memory/x.high",
        "mémoire.high",
        "memory.hig\u0660",
        "",
        ".",
        "\n",
    ],
)
def test_unified_name_check_matches_the_regular_expression(name: str) -> None:
    import re

    assert is_file_name(name) == bool(re.match(UNIFIED_NAME_RE, name))
