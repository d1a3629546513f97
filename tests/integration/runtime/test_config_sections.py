"""config.json sections beyond the basics, each checked from inside a real container."""

from __future__ import annotations

import array
import json
import os
import socket
import subprocess
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from runtime_harness import BundleFactory, Runtime, new_id


def run_probe(
    runtime: Runtime, make_bundle: BundleFactory, probe: str, edit: Any = None
) -> list[str]:
    result = runtime("run", "--bundle", str(make_bundle(["sh", "-c", probe], edit)), new_id())
    return result.stdout.splitlines()


def test_sysctl_and_domainname(runtime: Runtime, make_bundle: BundleFactory) -> None:
    def edit(spec: dict[str, Any]) -> None:
        spec["linux"]["sysctl"] = {"net.ipv4.ip_forward": "1", "kernel.msgmax": "4096"}
        spec["domainname"] = "example.test"

    lines = run_probe(
        runtime,
        make_bundle,
        "cat /proc/sys/net/ipv4/ip_forward /proc/sys/kernel/msgmax /proc/sys/kernel/domainname",
        edit,
    )
    assert lines == ["1", "4096", "example.test"]


def test_personality_linux32(runtime: Runtime, make_bundle: BundleFactory) -> None:
    if os.uname().machine != "x86_64":
        pytest.skip("LINUX32 is checked on x86_64")

    def edit(spec: dict[str, Any]) -> None:
        spec["linux"]["personality"] = {"domain": "LINUX32"}

    assert run_probe(runtime, make_bundle, "uname -m", edit) == ["i686"]


def test_time_namespace_offsets(runtime: Runtime, make_bundle: BundleFactory) -> None:
    if not os.path.exists("/proc/self/ns/time"):
        pytest.skip("no time namespaces on this kernel")

    def edit(spec: dict[str, Any]) -> None:
        spec["linux"]["namespaces"].append({"type": "time"})
        spec["linux"]["timeOffsets"] = {"boottime": {"secs": 86400 * 365}}

    uptime = float(run_probe(runtime, make_bundle, "cut -d' ' -f1 /proc/uptime", edit)[0])
    assert uptime > 86400 * 365


def test_joining_another_containers_namespaces(
    runtime: Runtime, make_bundle: BundleFactory
) -> None:
    first = new_id()

    def named(spec: dict[str, Any]) -> None:
        spec["hostname"] = "first"

    runtime("run", "-d", "--bundle", str(make_bundle(["sleep", "300"], named)), first)
    pid = runtime.state(first)["pid"]

    def join(spec: dict[str, Any]) -> None:
        spec.pop("hostname", None)
        for ns in spec["linux"]["namespaces"]:
            if ns["type"] in ("uts", "network", "ipc"):
                ns["path"] = f"/proc/{pid}/ns/{'net' if ns['type'] == 'network' else ns['type']}"

    lines = run_probe(runtime, make_bundle, "hostname; readlink /proc/self/ns/net", join)
    assert lines[0] == "first"
    assert lines[1] == os.readlink(f"/proc/{pid}/ns/net")
    runtime("delete", "-f", first)


def test_no_descriptor_leaks_and_preserve_fds(
    runtime: Runtime, make_bundle: BundleFactory, tmp_path: Path
) -> None:
    bundle = make_bundle(["sh", "-c", "ls /proc/self/fd | sort -n | tr '\\n' ' '"])
    extra = tmp_path / "extra"
    extra.write_text("x")
    base = f"{runtime.binary} --root {runtime.root} run"

    def run_with_fds(flags: str) -> list[str]:
        # Descriptors 3 and 4 are open in the caller; only --preserve-fds passes them on.
        script = f"exec 3<{extra} 4<{extra}; exec {base} {flags} --bundle {bundle} {new_id()}"
        result = subprocess.run(
            ["sh", "-c", script], capture_output=True, text=True, check=True, timeout=60
        )
        return result.stdout.split()

    # 0, 1, 2 and the directory ls itself opens.
    assert run_with_fds("") == ["0", "1", "2", "3"]
    assert run_with_fds("--preserve-fds 2") == ["0", "1", "2", "3", "4", "5"]


def test_lsm_labels_are_refused_where_the_lsm_is_off(
    runtime: Runtime, make_bundle: BundleFactory
) -> None:
    lsm = Path("/sys/kernel/security/lsm")
    if lsm.exists() and "apparmor" in lsm.read_text():
        pytest.skip("AppArmor is enabled here")

    def edit(spec: dict[str, Any]) -> None:
        spec["process"]["apparmorProfile"] = "capsa-default"

    result = runtime("run", "--bundle", str(make_bundle(["true"], edit)), new_id(), check=False)
    assert result.returncode == 1
    assert "AppArmor is not enabled" in result.stderr


def test_container_hooks_run_inside(
    runtime: Runtime, make_bundle: BundleFactory, tmp_path: Path
) -> None:
    marker = tmp_path / "marks"
    marker.mkdir()

    def edit(spec: dict[str, Any]) -> None:
        spec["root"]["readonly"] = False
        spec["mounts"].append(
            {
                "destination": "/marks",
                "type": "bind",
                "source": str(marker),
                "options": ["rbind", "rw"],
            }
        )
        spec["hooks"] = {
            # createContainer: in the container's namespaces, before pivot_root; its path
            # is resolved in the runtime's namespace.
            "createContainer": [
                {
                    "path": "/bin/sh",
                    "args": [
                        "sh",
                        "-c",
                        f"cat > {marker}/create.json; "
                        f"readlink /proc/self/ns/mnt > {marker}/create.ns",
                    ],
                }
            ],
            # startContainer: inside the container, after pivot_root.
            "startContainer": [
                {"path": "/bin/sh", "args": ["sh", "-c", "cat > /marks/start.json"]}
            ],
        }

    cid = new_id()
    runtime("create", "--bundle", str(make_bundle(["sleep", "300"], edit)), cid)
    pid = runtime.state(cid)["pid"]
    assert (marker / "create.ns").read_text().strip() == os.readlink(f"/proc/{pid}/ns/mnt")
    assert json.loads((marker / "create.json").read_text())["status"] == "created"
    assert not (marker / "start.json").exists()
    runtime("start", cid)
    # The hook's shell makes the file before cat writes it: wait for a whole document.
    deadline = time.monotonic() + 10
    start_json = marker / "start.json"
    while time.monotonic() < deadline:
        text = start_json.read_text() if start_json.exists() else ""
        if text.endswith("}"):
            break
        time.sleep(0.02)
    assert json.loads(start_json.read_text())["status"] == "created"
    runtime("delete", "-f", cid)


def test_console_socket_receives_the_terminal(
    runtime: Runtime, make_bundle: BundleFactory, tmp_path: Path
) -> None:
    path = str(tmp_path / "console.sock")
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(path)
    server.listen(1)
    received: dict[str, Any] = {}

    def accept() -> None:
        conn, _ = server.accept()
        fds = array.array("i")
        msg, ancdata, _, _ = conn.recvmsg(1024, socket.CMSG_LEN(fds.itemsize))
        for level, kind, data in ancdata:
            if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
                fds.frombytes(data[: fds.itemsize])
        received["name"] = msg.decode()
        received["fd"] = fds[0]
        conn.close()

    thread = threading.Thread(target=accept)
    thread.start()

    def edit(spec: dict[str, Any]) -> None:
        spec["process"]["terminal"] = True
        spec["process"]["consoleSize"] = {"height": 33, "width": 99}

    cid = new_id()
    runtime(
        "create",
        "--console-socket",
        path,
        "--bundle",
        str(make_bundle(["sh", "-c", "tty; stty size; readlink /proc/self/fd/0"], edit)),
        cid,
    )
    thread.join(10)
    master = received["fd"]
    runtime("start", cid)
    output = b""
    while True:
        try:
            chunk = os.read(master, 4096)
        except OSError:
            break
        if not chunk:
            break
        output += chunk
    os.close(master)
    server.close()
    lines = output.decode().split()
    assert received["name"].startswith("/dev/pts/")
    assert lines[0] == received["name"]
    assert lines[1:3] == ["33", "99"]
    runtime("delete", "-f", cid)


def test_oom_score_io_priority_and_scheduler(runtime: Runtime, make_bundle: BundleFactory) -> None:
    def edit(spec: dict[str, Any]) -> None:
        spec["process"]["oomScoreAdj"] = 123
        spec["process"]["ioPriority"] = {"class": "IOPRIO_CLASS_BE", "priority": 6}
        spec["process"]["scheduler"] = {"policy": "SCHED_BATCH", "nice": 7}

    probe = (
        "cat /proc/self/oom_score_adj; ionice -p $$; "
        "grep -E '^policy' /proc/self/sched | tr -d ' \\t'; cut -d' ' -f19 /proc/self/stat"
    )
    lines = run_probe(runtime, make_bundle, probe, edit)
    assert lines[0] == "123"
    assert lines[1] == "best-effort: prio 6"
    assert lines[2] == "policy:3"  # SCHED_BATCH
    assert lines[3] == "7"  # nice
