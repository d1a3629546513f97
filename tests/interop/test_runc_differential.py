"""The same bundles through capsa-runtime and Debian's runc: same exit codes, same
output, and the same view from inside (capabilities, no_new_privs, seccomp mode, id
maps, mounts, hostname, cgroup limits)."""

from __future__ import annotations

import copy
import json
import os
import re
import shutil
import subprocess
import sys
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from capsa.runtime.busybox_bundle import make_rootfs
from capsa.runtime.default_spec import default_spec

CAPSA = os.path.join(os.path.dirname(sys.executable), "capsa-runtime")
RUNC = shutil.which("runc")

pytestmark = pytest.mark.skipif(RUNC is None, reason="runc is not installed (apt-get install runc)")

PROBE = r"""
grep -E '^(CapInh|CapPrm|CapEff|CapBnd|CapAmb|NoNewPrivs|Seccomp):' /proc/self/status
echo uid_map: $(cat /proc/self/uid_map)
echo gid_map: $(cat /proc/self/gid_map)
echo hostname: $(hostname)
echo id: $(id)
echo cwd: $(pwd)
echo pid: $$
echo nofile: $(ulimit -n) $(ulimit -Hn)
echo umask: $(umask)
awk '{print "mount:", $5, $9}' /proc/self/mountinfo | sort
sed 's/^/cgroup membership: /' /proc/self/cgroup
for f in memory/memory.limit_in_bytes pids/pids.max cpu/cpu.shares cpu/cpu.cfs_quota_us; do
  [ -f /sys/fs/cgroup/$f ] && echo "cgroup $f: $(cat /sys/fs/cgroup/$f)"
done
ls /dev | tr '\n' ' '; echo
touch /probe-write 2>/dev/null && rm /probe-write && echo root: rw || echo root: ro
(mkdir /tmp/probe-dir && rmdir /tmp/probe-dir) 2>&1 | sed 's/^/mkdir: /'
"""


def run(binary: str, bundle: Path, root: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [binary, "--root", str(root), "run", "--bundle", str(bundle), f"d{uuid.uuid4().hex[:10]}"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        stdin=subprocess.DEVNULL,
    )


def normalise(text: str) -> list[str]:
    lines = []
    for line in text.splitlines():
        # Mount sources that name per-run paths (the bundle's tmp dir) differ by design.
        line = re.sub(r"/tmp/pytest-[^ ]*", "<tmp>", line)
        lines.append(line)
    return lines


def no_cgroup_mount(spec: dict[str, Any]) -> None:
    # runc and capsa both mount cgroups read-only, but runc 1.1 names v1 hierarchies by
    # their host mount names; compare the rest of the tree.
    spec["mounts"] = [m for m in spec["mounts"] if m["destination"] != "/sys/fs/cgroup"]


VARIANTS: dict[str, Callable[[dict[str, Any]], None]] = {
    "default": lambda spec: None,
    "user-and-caps": lambda spec: spec["process"].update(
        user={"uid": 1000, "gid": 1000, "additionalGids": [10]},
        capabilities={
            k: ["CAP_CHOWN", "CAP_NET_RAW"]
            for k in ("bounding", "effective", "permitted", "inheritable", "ambient")
        },
        noNewPrivileges=False,
    ),
    "rlimits-umask-cwd": lambda spec: spec["process"].update(
        rlimits=[{"type": "RLIMIT_NOFILE", "soft": 123, "hard": 456}],
        user={"uid": 0, "gid": 0, "umask": 0o077},
        cwd="/tmp",
    ),
    "resources": lambda spec: spec["linux"]["resources"].update(
        memory={"limit": 96 * 2**20},
        pids={"limit": 77},
        cpu={"shares": 512, "quota": 50000, "period": 100000},
    ),
    "hostname-rw-root": lambda spec: (
        spec.update(hostname="differential"),
        spec["root"].update(readonly=False),
    ),
    "seccomp-mkdir-errno": lambda spec: spec["linux"].update(
        seccomp={
            "defaultAction": "SCMP_ACT_ALLOW",
            "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"],
            "syscalls": [
                {"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO", "errnoRet": 13}
            ],
        }
    ),
    "user-namespace": lambda spec: (
        spec["linux"]["namespaces"].append({"type": "user"}),
        spec["linux"].update(
            uidMappings=[{"containerID": 0, "hostID": 200000, "size": 65536}],
            gidMappings=[{"containerID": 0, "hostID": 200000, "size": 65536}],
        ),
        [
            m.update(
                type="none", source="/sys", options=["rbind", "nosuid", "nodev", "noexec", "ro"]
            )
            for m in spec["mounts"]
            if m["destination"] == "/sys"
        ],
    ),
}


@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_same_bundle_same_result(variant: str, public_tmp: Path) -> None:
    tmp_path = public_tmp
    rootfs = tmp_path / "rootfs"
    make_rootfs(str(rootfs))
    spec = default_spec(args=["sh", "-c", PROBE], terminal=False)
    no_cgroup_mount(spec)
    VARIANTS[variant](spec)
    outputs = {}
    for name, binary in (("capsa", CAPSA), ("runc", RUNC)):
        assert binary is not None
        bundle = tmp_path / f"bundle-{name}"
        bundle.mkdir()
        variant_spec = copy.deepcopy(spec)
        variant_spec["root"]["path"] = str(rootfs)
        (bundle / "config.json").write_text(json.dumps(variant_spec))
        result = run(binary, bundle, tmp_path / f"root-{name}")
        outputs[name] = (result.returncode, normalise(result.stdout))
    assert outputs["runc"][0] == 0, outputs["runc"]
    assert outputs["capsa"][0] == outputs["runc"][0]
    assert outputs["capsa"][1] == outputs["runc"][1]


def test_exit_codes_and_signals_match(public_tmp: Path) -> None:
    tmp_path = public_tmp
    rootfs = tmp_path / "rootfs"
    make_rootfs(str(rootfs))
    for script in ("exit 0", "exit 42", "kill -TERM $$", "kill -KILL $$"):
        codes = []
        for binary in (CAPSA, RUNC):
            assert binary is not None
            bundle = tmp_path / f"b{uuid.uuid4().hex[:6]}"
            bundle.mkdir()
            spec = default_spec(args=["sh", "-c", script], terminal=False)
            spec["root"]["path"] = str(rootfs)
            (bundle / "config.json").write_text(json.dumps(spec))
            codes.append(run(binary, bundle, tmp_path / "root").returncode)
        assert codes[0] == codes[1], script
