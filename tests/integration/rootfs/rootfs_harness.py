"""Run prepare_rootfs + finalize_rootfs for real, in a throwaway mount and PID namespace.

`run_container(spec, bundle, probe)` forks a child that unshares CLONE_NEWNS|CLONE_NEWPID
(and forks again to become PID 1 of the new PID namespace, so the container's /proc is
its own), builds the rootfs, calls `probe()` from inside it and sends back what it
returned (JSON) or the error it raised. Everything the child mounted lives in its mount
namespace, which goes away when it exits: the host is left as it was.
"""

from __future__ import annotations

import json
import os
import traceback
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from capsa.kernel.namespaces import (
    CLONE_NEWIPC,
    CLONE_NEWNS,
    CLONE_NEWPID,
    CLONE_NEWUSER,
    unshare,
)
from capsa.kernel.syscalls.real import RealSyscalls

Probe = Callable[[], Any]


def _send(fd: int, message: Mapping[str, Any]) -> None:
    data = json.dumps(message).encode()
    while data:
        data = data[os.write(fd, data) :]


def _container(spec: Mapping[str, Any], bundle: Path, probe: Probe, fd: int, **kw: Any) -> None:
    from capsa.runtime.rootfs import finalize_rootfs, prepare_rootfs

    try:
        syscalls = RealSyscalls()
        prepare_rootfs(
            spec,
            bundle,
            syscalls,
            user_namespace=kw.get("user_namespace", False),
            cgroup_namespace=kw.get("cgroup_namespace", False),
            no_pivot=kw.get("no_pivot", False),
        )
        finalize_rootfs(spec, syscalls)
        _send(fd, {"ok": probe()})
    except BaseException as exc:
        _send(fd, {"error": f"{type(exc).__name__}: {exc}", "trace": traceback.format_exc()})


def run_container(
    spec: Mapping[str, Any],
    bundle: Path,
    probe: Probe,
    *,
    pid_namespace: bool = True,
    real_user_namespace: bool = False,
    **kw: Any,
) -> dict[str, Any]:
    """{"ok": what probe returned} or {"error": "Kind: message"}. With
    real_user_namespace the child first enters a new user namespace in which the
    parent maps root (and every other id) to itself."""
    read_end, write_end = os.pipe()
    ready_r, ready_w = os.pipe()
    go_r, go_w = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child never returns to pytest
        code = 1
        try:
            os.close(read_end)
            if real_user_namespace:
                unshare(CLONE_NEWUSER)
                os.write(ready_w, b"u")
                if os.read(go_r, 1) != b"g":
                    raise RuntimeError("the parent did not map our ids")
            flags = CLONE_NEWNS | (CLONE_NEWPID if pid_namespace else 0)
            # mqueue needs an IPC namespace owned by the user namespace, as in real configs
            unshare(flags | (CLONE_NEWIPC if real_user_namespace else 0))
            if pid_namespace:
                inner = os.fork()
                if inner == 0:
                    _container(spec, bundle, probe, write_end, **kw)
                    os._exit(0)
                _, status = os.waitpid(inner, 0)
                code = os.waitstatus_to_exitcode(status)
            else:
                _container(spec, bundle, probe, write_end, **kw)
                code = 0
        except BaseException:
            traceback.print_exc()
        finally:
            os._exit(code)
    os.close(write_end)
    if real_user_namespace:
        if os.read(ready_r, 1) == b"u":
            for name in ("uid_map", "gid_map"):
                with open(f"/proc/{pid}/{name}", "w") as f:
                    f.write("0 0 4294967295\n")
        os.write(go_w, b"g")
    for fd in (ready_r, ready_w, go_r, go_w):
        os.close(fd)
    chunks = []
    while chunk := os.read(read_end, 65536):
        chunks.append(chunk)
    os.close(read_end)
    _, status = os.waitpid(pid, 0)
    if not chunks:
        raise AssertionError(f"the container child sent nothing (status {status})")
    result: dict[str, Any] = json.loads(b"".join(chunks))
    return result


def mountinfo() -> list[dict[str, str]]:
    """/proc/self/mountinfo as [{"point", "options", "fstype", "source", "super"}]."""
    rows = []
    with open("/proc/self/mountinfo") as f:
        for line in f:
            fields = line.split()
            dash = fields.index("-", 6)
            rows.append(
                {
                    "point": fields[4],
                    "options": fields[5],
                    "optional": " ".join(fields[6:dash]),
                    "fstype": fields[dash + 1],
                    "source": fields[dash + 2],
                    "super": fields[dash + 3],
                }
            )
    return rows
