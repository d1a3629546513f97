"""Containers configured the way the engine configures them (capsa.engine's capabilities,
seccomp profile and --security-opt handling), run through an OCI runtime's command line,
and what a probe inside them saw.

The root filesystem is Debian's static busybox, plus `probe` (probe.c, compiled
statically here: it makes one system call per argument and prints the errno) and strace
with its libraries, the ptrace-based tool.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import pytest

from capsa.engine.capabilities import resolve_capabilities
from capsa.engine.security_opts import parse_security_opts, seccomp_for, system_paths
from capsa.errors import NotFound
from capsa.runtime.busybox_bundle import make_rootfs
from capsa.runtime.default_spec import default_spec

CAPSA_RUNTIME = os.path.join(os.path.dirname(sys.executable), "capsa-runtime")
PROBE_SOURCE = Path(__file__).with_name("probe.c")

PROBES = (
    "keyctl add_key personality:0 personality:8 personality:0x20000 personality:0xffffffff "
    "personality:0x40000 personality:0x400000 personality:6 clone clone_newuser clone_newns "
    "clone3 unshare_user unshare_net mount swapon reboot chroot kcmp pidfd_getfd "
    "process_vm_readv ptrace_other_user socket:2 socket:1 socket:38 socket:40"
)

# Everyday programs, busybox's own unshare and mount, the probe, and strace on a child of
# its own and attached to a process of another user.
SCRIPT = f"""
grep '^Seccomp:' /proc/self/status | tr -d '\\t'
grep '^NoNewPrivs:' /proc/self/status | tr -d '\\t'
ls / >/dev/null && echo "ls ok"
ps >/dev/null && echo "ps ok"
wget --help >/dev/null 2>&1 && echo "wget ok"
echo "id $(id -u):$(id -g)"
date +%s >/dev/null && echo "date ok"
sleep 0.05 && echo "sleep ok"
sh -c 'exit 3'; echo "sh $?"
echo "linux32 $(linux32 uname -m)"
out=$(unshare -U true 2>&1) && echo "busybox-unshare ok" || echo "busybox-unshare $out"
if out=$(mount -t tmpfs none /dev/shm 2>&1); then umount /dev/shm; echo "busybox-mount ok"
else echo "busybox-mount $out"; fi
/probe {PROBES}
out=$(strace -f -o /dev/null true 2>&1) && echo "strace-child ok" || echo "strace-child $out"
su -s /bin/sh nobody -c 'exec sleep 30' &
victim=$!
sleep 0.3
out=$(timeout 1 strace -o /dev/null -p $victim 2>&1)
case "$out" in
  *attached*) echo "strace-attach ok" ;;
  *"Operation not permitted"*) echo "strace-attach EPERM" ;;
  *) echo "strace-attach ?$out" ;;
esac
kill $victim
wait
echo done
"""


def build_rootfs(target: Path) -> Path:
    """busybox + /probe + strace; skips the test with the reason when a tool is missing."""
    try:
        make_rootfs(str(target))
    except NotFound:
        pytest.skip("busybox-static is not installed (apt-get install busybox-static)")
    gcc = shutil.which("gcc")
    strace = shutil.which("strace")
    if gcc is None or strace is None:
        pytest.skip("needs gcc, libc6-dev and strace (scripts/setup.sh installs them)")
    compiled = subprocess.run(
        [gcc, "-static", "-O1", "-Wall", "-o", str(target / "probe"), str(PROBE_SOURCE)],
        capture_output=True,
        text=True,
        check=False,
    )
    if compiled.returncode != 0:
        pytest.skip(f"cannot build the probe statically (libc6-dev?): {compiled.stderr[-300:]}")
    shutil.copy2(strace, target / "bin" / "strace")
    for library in _libraries(strace):
        destination = target / library.lstrip("/")
        destination.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(os.path.realpath(library), destination)
    return target


def _libraries(binary: str) -> list[str]:
    output = subprocess.run(["ldd", binary], capture_output=True, text=True, check=True).stdout
    found = []
    for line in output.splitlines():
        match = re.search(r"(/\S+) \(0x", line)
        if match:
            found.append(match.group(1))
    return found


def security_bundle(
    directory: Path,
    rootfs: Path,
    *,
    cap_add: tuple[str, ...] = (),
    security_opt: tuple[str, ...] = (),
    privileged: bool = False,
) -> Path:
    """A bundle whose security settings come from capsa.engine, as `capsa run` makes them."""
    options = parse_security_opts(security_opt)
    capabilities = resolve_capabilities(cap_add, [], privileged)
    spec: dict[str, Any] = default_spec(args=["sh", "-c", SCRIPT], terminal=False)
    spec["root"] = {"path": str(rootfs), "readonly": True}
    spec["process"]["capabilities"] = capabilities
    spec["process"]["noNewPrivileges"] = options.no_new_privileges  # Docker: off by default
    linux = spec["linux"]
    seccomp = seccomp_for(options, capabilities["bounding"], privileged)
    if seccomp is not None:
        linux["seccomp"] = seccomp
    linux["maskedPaths"], linux["readonlyPaths"] = system_paths(
        options, linux["maskedPaths"], linux["readonlyPaths"], privileged
    )
    directory.mkdir(parents=True)
    (directory / "config.json").write_text(json.dumps(spec, indent=2))
    return directory


def run_bundle(binary: str, bundle: Path, state_root: Path) -> dict[str, str]:
    """Run the bundle to completion; what each probe line said, by its first word."""
    container_id = f"sec{uuid.uuid4().hex[:10]}"
    command = [binary, "--root", str(state_root), "run", "--bundle", str(bundle), container_id]
    try:
        result = subprocess.run(
            command,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
    finally:
        subprocess.run(
            [binary, "--root", str(state_root), "delete", "--force", container_id],
            capture_output=True,
            check=False,
        )
    assert result.returncode == 0, f"{binary} exited {result.returncode}: {result.stderr}"
    seen: dict[str, str] = {}
    for line in result.stdout.splitlines():
        key, _, value = line.partition(" ") if " " in line else line.partition(":")
        seen[key] = value
    assert seen.get("done") == "", result.stdout + result.stderr
    return seen


# What a container sees with Docker's defaults: everyday programs work; namespaces,
# mounts, swap, reboot, keyrings, odd personalities, AF_ALG/AF_VSOCK sockets and the
# inspection of other processes are refused, by the filter (EPERM; clone3 ENOSYS).
DEFAULT_EXPECTED: dict[str, str] = {
    "Seccomp": "2",
    "NoNewPrivs": "0",
    "ls": "ok",
    "ps": "ok",
    "wget": "ok",
    "id": "0:0",
    "date": "ok",
    "sleep": "ok",
    "sh": "3",
    "busybox-unshare": "unshare: unshare(0x10000000): Operation not permitted",
    "busybox-mount": "mount: permission denied (are you root?)",
    "keyctl": "EPERM",
    "add_key": "EPERM",
    "personality:0": "ok",
    "personality:8": "ok",
    "personality:0x20000": "ok",
    "personality:0xffffffff": "ok",
    "personality:0x40000": "EPERM",
    "personality:0x400000": "EPERM",
    "personality:6": "EPERM",
    "clone": "ok",
    "clone_newuser": "EPERM",
    "clone_newns": "EPERM",
    "clone3": "ENOSYS",
    "unshare_user": "EPERM",
    "unshare_net": "EPERM",
    "mount": "EPERM",
    "swapon": "EPERM",
    "reboot": "EPERM",
    "chroot": "ok",
    "kcmp": "EPERM",
    "pidfd_getfd": "EPERM",
    "process_vm_readv": "ok",
    "ptrace_other_user": "EPERM",
    "socket:2": "ok",
    "socket:1": "ok",
    "socket:38": "EPERM",
    "socket:40": "EPERM",
    "strace-child": "ok",
    "strace-attach": "EPERM",
}

_NAMESPACES_AND_MOUNTS = {
    "busybox-unshare": "ok",
    "busybox-mount": "ok",
    "clone_newuser": "ok",
    "clone_newns": "ok",
    "clone3": "EINVAL",  # let through: the kernel refuses the empty argument
    "unshare_user": "ok",
    "unshare_net": "ok",
    "mount": "ok",
}
_PROCESS_INSPECTION = {
    "kcmp": "ok",
    "pidfd_getfd": "ok",
    "ptrace_other_user": "ok",
    "strace-attach": "ok",
}
# Without a filter, what only the filter refused goes through (the kernel's own checks
# still refuse what needs a capability the container lacks).
_NO_FILTER = {
    "Seccomp": "0",
    "keyctl": "ok",
    "add_key": "ok",
    "personality:0x40000": "ok",
    "personality:0x400000": "ok",
    "personality:6": "ok",
    "busybox-unshare": "ok",
    "clone_newuser": "ok",
    "unshare_user": "ok",
    "clone3": "EINVAL",
    "kcmp": "ok",
    "pidfd_getfd": "ok",
    # AF_ALG and AF_VSOCK then depend on the host's kernel modules.
    "socket:38": "*",
    "socket:40": "*",
}

# name -> (security_bundle keywords, what differs from DEFAULT_EXPECTED)
CONFIGS: dict[str, tuple[dict[str, Any], dict[str, str]]] = {
    "default": ({}, {}),
    "no-new-privileges": ({"security_opt": ("no-new-privileges",)}, {"NoNewPrivs": "1"}),
    "cap-add SYS_ADMIN": ({"cap_add": ("SYS_ADMIN",)}, _NAMESPACES_AND_MOUNTS),
    "cap-add SYS_PTRACE": ({"cap_add": ("SYS_PTRACE",)}, _PROCESS_INSPECTION),
    "seccomp=unconfined": ({"security_opt": ("seccomp=unconfined",)}, _NO_FILTER),
    # swapon is refused by the filter even with CAP_SYS_ADMIN: without it, the kernel
    # gets as far as looking for the file.
    "SYS_ADMIN unconfined": (
        {"cap_add": ("SYS_ADMIN",), "security_opt": ("seccomp=unconfined",)},
        {**_NO_FILTER, **_NAMESPACES_AND_MOUNTS, "swapon": "ENOENT"},
    ),
    "privileged": (
        {"privileged": True},
        {
            **_NO_FILTER,
            **_NAMESPACES_AND_MOUNTS,
            **_PROCESS_INSPECTION,
            "swapon": "ENOENT",
            "reboot": "EINVAL",  # CAP_SYS_BOOT, and the kernel refuses the bad magic
        },
    ),
}


def expected(config: str) -> dict[str, str]:
    result = {**DEFAULT_EXPECTED, **CONFIGS[config][1]}
    if os.uname().machine == "x86_64":
        result["linux32"] = "i686"
    return result


def check(config: str, seen: dict[str, str]) -> None:
    """Every probe line as expected for the config ("*": any answer)."""
    seen = {key: value for key, value in seen.items() if key != "done"}
    if os.uname().machine != "x86_64":
        seen.pop("linux32", None)
    want = expected(config)
    assert sorted(seen) == sorted(want), (config, sorted(set(seen) ^ set(want)))
    wrong = {
        key: (seen[key], value) for key, value in want.items() if value not in ("*", seen[key])
    }
    assert not wrong, (config, "seen, expected:", wrong)
