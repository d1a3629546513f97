"""The lifecycle of runtime.md through capsa-runtime's command line, on a real kernel."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

import pytest
from runtime_harness import BundleFactory, Runtime, cgroup_leftovers, new_id


def wait_status(runtime: Runtime, cid: str, status: str, timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if runtime.state(cid)["status"] == status:
            return
        time.sleep(0.02)
    raise AssertionError(f"{cid} never became {status}: {runtime.state(cid)}")


def test_run_in_the_foreground_returns_the_exit_status(
    runtime: Runtime, make_bundle: BundleFactory
) -> None:
    bundle = make_bundle(["sh", "-c", "echo out; echo err >&2; exit 3"])
    result = runtime("run", "--bundle", str(bundle), new_id(), check=False)
    assert result.returncode == 3
    assert result.stdout == "out\n"
    assert "err" in result.stderr
    assert runtime("list", "-q").stdout == ""


def test_create_start_kill_delete(
    runtime: Runtime, make_bundle: BundleFactory, tmp_path: Path
) -> None:
    bundle = make_bundle(["sleep", "300"])
    cid = new_id()
    pid_file = tmp_path / "pid"
    runtime("create", "--bundle", str(bundle), "--pid-file", str(pid_file), cid)
    state = runtime.state(cid)
    assert state["status"] == "created"
    assert state["id"] == cid
    assert state["bundle"] == str(bundle)
    assert state["pid"] == int(pid_file.read_text())
    # Created: the init waits, fully set up, without running the program yet.
    cmdline = Path(f"/proc/{state['pid']}/cmdline").read_bytes()
    assert b"sleep" not in cmdline
    runtime("start", cid)
    assert runtime.state(cid)["status"] == "running"
    assert Path(f"/proc/{state['pid']}/cmdline").read_bytes().startswith(b"sleep")
    assert runtime("start", cid, check=False).returncode != 0  # not created any more
    assert runtime("delete", cid, check=False).returncode != 0  # running: needs --force
    runtime("kill", cid, "KILL")
    wait_status(runtime, cid, "stopped")
    assert runtime("kill", cid, "TERM", check=False).returncode != 0
    runtime("delete", cid)
    assert runtime("state", cid, check=False).returncode != 0
    assert not (runtime.root / cid).exists()
    assert cgroup_leftovers(cid) == []


def test_delete_force_removes_a_running_container(
    runtime: Runtime, make_bundle: BundleFactory
) -> None:
    cid = new_id()
    runtime("run", "--detach", "--bundle", str(make_bundle(["sleep", "300"])), cid)
    pid = runtime.state(cid)["pid"]
    runtime("delete", "--force", cid)
    assert (
        not Path(f"/proc/{pid}").exists()
        or b"sleep" not in Path(f"/proc/{pid}/cmdline").read_bytes()
    )
    assert cgroup_leftovers(cid) == []


def test_a_failed_create_leaves_nothing(runtime: Runtime, make_bundle: BundleFactory) -> None:
    cid = new_id()
    result = runtime("create", "--bundle", str(make_bundle(["/no/such/program"])), cid, check=False)
    assert result.returncode == 1
    assert "/no/such/program" in result.stderr
    assert "no such file" in result.stderr
    assert runtime("list", "-q").stdout == ""
    assert not (runtime.root / cid).exists()
    assert cgroup_leftovers(cid) == []


def test_a_bad_config_names_the_field(runtime: Runtime, make_bundle: BundleFactory) -> None:
    def edit(spec: dict[str, Any]) -> None:
        spec["process"]["rlimits"] = [{"type": "RLIMIT_NOFILE", "soft": 10, "hard": 5}]

    result = runtime("run", "--bundle", str(make_bundle(["true"], edit)), new_id(), check=False)
    assert result.returncode == 1
    assert "process.rlimits[0]" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_duplicate_ids_are_refused(runtime: Runtime, make_bundle: BundleFactory) -> None:
    cid = new_id()
    bundle = str(make_bundle(["sleep", "300"]))
    runtime("create", "--bundle", bundle, cid)
    result = runtime("create", "--bundle", bundle, cid, check=False)
    assert "already exists" in result.stderr
    runtime("delete", "--force", cid)


def test_what_the_container_sees(runtime: Runtime, make_bundle: BundleFactory) -> None:
    def edit(spec: dict[str, Any]) -> None:
        spec["hostname"] = "inside"
        spec["process"]["env"].append("GREETING=hello there")
        spec["process"]["cwd"] = "/tmp"
        spec["process"]["user"] = {"uid": 1000, "gid": 1000, "additionalGids": [5, 6]}

    probe = (
        "hostname; echo $GREETING; pwd; id -u; id -g; id -G; echo $$; "
        "grep -E '^(CapEff|CapBnd|NoNewPrivs)' /proc/self/status; ls /proc/1/ns/pid"
    )
    result = runtime("run", "--bundle", str(make_bundle(["sh", "-c", probe], edit)), new_id())
    lines = result.stdout.splitlines()
    assert lines[0] == "inside"
    assert lines[1] == "hello there"
    assert lines[2] == "/tmp"
    assert lines[3:6] == ["1000", "1000", "1000 5 6"]
    assert lines[6] == "1"  # pid 1 of its own pid namespace
    assert "CapEff:\t0000000000000000" in lines  # a non-root user loses them at exec, as in runc
    assert "CapBnd:\t0000000020000420" in lines  # AUDIT_WRITE, KILL, NET_BIND_SERVICE
    assert "NoNewPrivs:\t1" in lines


def test_root_readonly_and_masked_paths(runtime: Runtime, make_bundle: BundleFactory) -> None:
    probe = (
        "touch /x 2>/dev/null && echo rw || echo ro; "
        "cat /proc/kcore 2>/dev/null | wc -c; echo 1 > /proc/sys/kernel/domainname 2>/dev/null "
        "&& echo sys-rw || echo sys-ro; touch /tmp/ok && echo tmp-ok"
    )
    result = runtime(
        "run",
        "--bundle",
        str(
            make_bundle(
                ["sh", "-c", probe],
                lambda s: s["mounts"].append(
                    {
                        "destination": "/tmp",
                        "type": "tmpfs",
                        "source": "tmpfs",
                        "options": ["nosuid", "nodev"],
                    }
                ),
            )
        ),
        new_id(),
    )
    assert result.stdout.split() == ["ro", "0", "sys-ro", "tmp-ok"]


def test_exec_joins_the_container(
    runtime: Runtime, make_bundle: BundleFactory, tmp_path: Path
) -> None:
    def edit(spec: dict[str, Any]) -> None:
        spec["hostname"] = "box"

    cid = new_id()
    runtime("run", "-d", "--bundle", str(make_bundle(["sleep", "300"], edit)), cid)
    result = runtime("exec", "-e", "X=1", cid, "sh", "-c", "hostname; echo $X; cat /proc/1/cmdline")
    assert result.stdout.split("\n")[:2] == ["box", "1"]
    assert result.stdout.split("\n")[2].startswith("sleep")
    assert runtime("exec", cid, "sh", "-c", "exit 7", check=False).returncode == 7
    failed = runtime("exec", cid, "/nope", check=False)
    assert failed.returncode != 0 and "/nope" in failed.stderr
    process = tmp_path / "process.json"
    process.write_text(
        json.dumps(
            {
                "args": ["sh", "-c", "id -u; pwd"],
                "cwd": "/proc",
                "user": {"uid": 65534, "gid": 65534},
                "env": ["PATH=/bin"],
            }
        )
    )
    assert runtime("exec", "--process", str(process), cid).stdout.split() == ["65534", "/proc"]
    pid_file = tmp_path / "exec.pid"
    runtime("exec", "-d", "--pid-file", str(pid_file), cid, "sleep", "100")
    exec_pid = int(pid_file.read_text())
    pids = json.loads(runtime("ps", "--format", "json", cid).stdout)
    assert exec_pid in pids and runtime.state(cid)["pid"] in pids
    runtime("delete", "-f", cid)
    assert (
        not Path(f"/proc/{exec_pid}/cmdline").exists()
        or b"sleep" not in Path(f"/proc/{exec_pid}/cmdline").read_bytes()
    )


def test_pause_and_resume(runtime: Runtime, make_bundle: BundleFactory) -> None:
    cid = new_id()
    runtime("run", "-d", "--bundle", str(make_bundle(["sleep", "300"])), cid)
    runtime("pause", cid)
    assert runtime.state(cid)["status"] == "paused"
    assert runtime("pause", cid, check=False).returncode != 0
    runtime("resume", cid)
    assert runtime.state(cid)["status"] == "running"
    runtime("delete", "-f", cid)


def test_list_and_state_formats(runtime: Runtime, make_bundle: BundleFactory) -> None:
    cid = new_id()
    runtime("create", "--bundle", str(make_bundle(["sleep", "300"])), cid)
    listing = json.loads(runtime("list", "--format", "json").stdout)
    assert [item["id"] for item in listing] == [cid]
    assert listing[0]["status"] == "created"
    table = runtime("list").stdout.splitlines()
    assert table[0].split() == ["ID", "PID", "STATUS", "BUNDLE", "CREATED", "OWNER"]
    assert table[1].split()[0] == cid
    state = runtime.state(cid)
    assert set(state) >= {"ociVersion", "id", "status", "pid", "bundle"}
    runtime("delete", cid)  # a created container can be deleted without --force


def test_hooks_get_the_state_and_failures_undo_create(
    runtime: Runtime, make_bundle: BundleFactory, tmp_path: Path
) -> None:
    out = tmp_path / "hooks"
    out.mkdir()
    script = tmp_path / "hook.sh"
    script.write_text(f"#!/bin/sh\ncat > {out}/$1.json\n")
    script.chmod(0o755)

    def edit(spec: dict[str, Any]) -> None:
        spec["hooks"] = {
            kind: [{"path": str(script), "args": ["hook.sh", kind]}]
            for kind in ("prestart", "createRuntime", "poststart", "poststop")
        }

    cid = new_id()
    runtime("run", "--bundle", str(make_bundle(["true"], edit)), cid)
    states = {p.stem: json.loads(p.read_text()) for p in out.iterdir()}
    assert set(states) == {"prestart", "createRuntime", "poststart", "poststop"}
    assert states["prestart"]["status"] == "creating"
    assert states["prestart"]["id"] == cid and states["prestart"]["pid"] > 0
    assert states["poststop"]["status"] == "stopped"

    def failing(spec: dict[str, Any]) -> None:
        spec["hooks"] = {"prestart": [{"path": "/bin/sh", "args": ["sh", "-c", "exit 4"]}]}

    cid = new_id()
    result = runtime("create", "--bundle", str(make_bundle(["true"], failing)), cid, check=False)
    assert result.returncode == 1 and "prestart hook #0" in result.stderr
    assert "status 4" in result.stderr
    assert not (runtime.root / cid).exists() and cgroup_leftovers(cid) == []

    def slow(spec: dict[str, Any]) -> None:
        spec["hooks"] = {
            "createRuntime": [{"path": "/bin/sleep", "args": ["sleep", "30"], "timeout": 1}]
        }

    result = runtime("create", "--bundle", str(make_bundle(["true"], slow)), new_id(), check=False)
    assert "timed out after 1s" in result.stderr


def test_rlimits_within_and_beyond_the_hard_limit(
    runtime: Runtime, make_bundle: BundleFactory
) -> None:
    import resource

    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]

    def within(spec: dict[str, Any]) -> None:
        spec["process"]["rlimits"] = [{"type": "RLIMIT_NOFILE", "soft": 100, "hard": 200}]

    result = runtime(
        "run", "--bundle", str(make_bundle(["sh", "-c", "ulimit -n; ulimit -Hn"], within)), new_id()
    )
    assert result.stdout.split() == ["100", "200"]
    if hard == resource.RLIM_INFINITY or os.path.exists("/proc/self/fd") is False:
        return

    def beyond(spec: dict[str, Any]) -> None:
        spec["process"]["rlimits"] = [{"type": "RLIMIT_NOFILE", "soft": 1048576, "hard": 1048576}]

    with open("/proc/self/status") as f:
        caps = int(next(line for line in f if line.startswith("CapEff")).split()[1], 16)
    if caps & (1 << 24):  # CAP_SYS_RESOURCE: raising is allowed here
        return
    result = runtime("run", "--bundle", str(make_bundle(["true"], beyond)), new_id(), check=False)
    assert result.returncode == 1
    assert "RLIMIT_NOFILE" in result.stderr and "CAP_SYS_RESOURCE" in result.stderr


def test_update_changes_limits(runtime: Runtime, make_bundle: BundleFactory) -> None:
    cid = new_id()

    def edit(spec: dict[str, Any]) -> None:
        spec["linux"]["resources"]["memory"] = {"limit": 64 * 2**20}
        spec["linux"]["resources"]["pids"] = {"limit": 50}

    runtime("run", "-d", "--bundle", str(make_bundle(["sleep", "300"], edit)), cid)
    pid = runtime.state(cid)["pid"]
    memory_dir = _cgroup_dir(pid, "memory")
    assert (memory_dir / "memory.limit_in_bytes").read_text().strip() == str(64 * 2**20)
    runtime("update", "--memory", "128m", "--pids-limit", "20", cid)
    assert (memory_dir / "memory.limit_in_bytes").read_text().strip() == str(128 * 2**20)
    assert (_cgroup_dir(pid, "pids") / "pids.max").read_text().strip() == "20"
    runtime("update", "-r", "-", cid, input=json.dumps({"pids": {"limit": 30}}))
    assert (_cgroup_dir(pid, "pids") / "pids.max").read_text().strip() == "30"
    runtime("delete", "-f", cid)


def _cgroup_dir(pid: int, controller: str) -> Path:
    for line in Path(f"/proc/{pid}/cgroup").read_text().splitlines():
        _, controllers, path = line.split(":", 2)
        if controller in controllers.split(","):
            return Path("/sys/fs/cgroup") / controller / path.lstrip("/")
    raise AssertionError(f"no {controller} cgroup for {pid}")


def test_user_namespace_maps_ids(
    runtime: Runtime, make_bundle: BundleFactory, public_tmp: Path
) -> None:
    from capsa.runtime.busybox_bundle import make_rootfs

    rootfs = Path(make_rootfs(str(public_tmp / "rootfs")))

    def edit(spec: dict[str, Any]) -> None:
        spec["linux"]["namespaces"].append({"type": "user"})
        spec["linux"]["uidMappings"] = [{"containerID": 0, "hostID": 100000, "size": 65536}]
        spec["linux"]["gidMappings"] = [{"containerID": 0, "hostID": 100000, "size": 65536}]
        spec["mounts"] = [m for m in spec["mounts"] if m["destination"] != "/sys/fs/cgroup"]
        for mount in spec["mounts"]:
            if mount["destination"] == "/sys":
                mount.update(
                    type="none", source="/sys", options=["rbind", "nosuid", "nodev", "noexec", "ro"]
                )

    result = runtime(
        "run",
        "--bundle",
        str(make_bundle(["sh", "-c", "cat /proc/self/uid_map; id -u"], edit, rootfs=rootfs)),
        new_id(),
    )
    first = result.stdout.split()
    assert first[:3] == ["0", "100000", "65536"]
    assert first[3] == "0"


def test_events_stats(runtime: Runtime, make_bundle: BundleFactory) -> None:
    def edit(spec: dict[str, Any]) -> None:
        spec["linux"]["resources"]["memory"] = {"limit": 64 * 2**20}
        spec["linux"]["resources"]["pids"] = {"limit": 40}

    cid = new_id()
    runtime("run", "-d", "--bundle", str(make_bundle(["sleep", "300"], edit)), cid)
    event = json.loads(runtime("events", "--stats", cid).stdout)
    assert event["type"] == "stats" and event["id"] == cid
    assert event["data"]["memory"]["usage"]["limit"] == 64 * 2**20
    assert event["data"]["memory"]["usage"]["usage"] > 0
    assert event["data"]["pids"] == {"current": 1, "limit": 40}
    assert event["data"]["cpu"]["usage"]["total"] > 0
    runtime("delete", "-f", cid)


def test_rootless_spec_runs_as_an_unprivileged_user(public_tmp: Path) -> None:
    """`spec --rootless` and a run by a user who is root nowhere: a user namespace maps
    them to root, and with no cgroup of their own the container still runs and goes."""
    import shutil
    import subprocess

    from runtime_harness import CAPSA_RUNTIME

    from capsa.runtime.busybox_bundle import make_rootfs

    setpriv = shutil.which("setpriv")
    if setpriv is None:
        pytest.skip("setpriv (util-linux) is not installed")
    bundle = public_tmp / "bundle"
    bundle.mkdir()
    make_rootfs(str(bundle / "rootfs"))
    os.chown(bundle, 65534, 65534)
    os.chown(public_tmp, 65534, 65534)
    as_nobody = [setpriv, "--reuid=65534", "--regid=65534", "--clear-groups", "--"]
    env = {"PATH": os.environ["PATH"], "XDG_RUNTIME_DIR": str(public_tmp), "HOME": "/"}
    subprocess.run(
        [*as_nobody, CAPSA_RUNTIME, "spec", "--rootless", "--bundle", str(bundle)],
        check=True,
        env=env,
    )
    spec = json.loads((bundle / "config.json").read_text())
    spec["process"]["terminal"] = False
    spec["process"]["args"] = ["sh", "-c", "id -u; cat /proc/self/uid_map"]
    (bundle / "config.json").write_text(json.dumps(spec))
    root = public_tmp / "state"
    result = subprocess.run(
        [*as_nobody, CAPSA_RUNTIME, "--root", str(root), "run", "--bundle", str(bundle), new_id()],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["0", "0", "65534", "1"]


def test_the_waiting_init_cannot_be_reached_from_inside(
    runtime: Runtime, make_bundle: BundleFactory
) -> None:
    """CVE-2019-5736 class: while the init still runs runtime code (here: created, not
    started), nothing in the container may open its /proc/1/exe (the host's interpreter)
    or its descriptors."""
    cid = new_id()
    runtime("create", "--bundle", str(make_bundle(["true"])), cid)
    probe = (
        "readlink /proc/1/exe 2>/dev/null || echo exe-denied; "
        "readlink /proc/1/fd/0 2>/dev/null || echo fd-denied; "
        "cat /proc/1/environ 2>/dev/null | wc -c"
    )
    result = runtime("exec", cid, "sh", "-c", probe)
    assert result.stdout.split() == ["exe-denied", "fd-denied", "0"]
    runtime("delete", cid)
