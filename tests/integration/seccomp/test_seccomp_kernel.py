"""Compiled filters loaded into a real kernel, in a forked child, then exercised there."""

from __future__ import annotations

import ctypes
import errno
import json
import os
import platform
import signal
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from capsa.kernel.process import set_no_new_privs
from capsa.runtime.seccomp import compile_seccomp, load, tables

# Docker's profile, resolved to OCI form, lives with the unit tests.
sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "unit" / "seccomp"))
from seccomp_docker_profile import docker_default_oci

pytestmark = pytest.mark.skipif(
    platform.machine() != "x86_64", reason="the syscall numbers below are x86_64's"
)

NR = tables.X86_64
X32_BIT = 0x40000000

_libc = ctypes.CDLL(None, use_errno=True)
_libc.syscall.restype = ctypes.c_long


def raw_syscall(nr: int, *args: int) -> tuple[int, int]:
    """(return value, errno) of syscall(nr, args...), with 64-bit arguments passed whole."""
    ctypes.set_errno(0)
    result = _libc.syscall(ctypes.c_long(nr), *(ctypes.c_ulong(arg) for arg in args))
    return int(result), ctypes.get_errno()


def seccomp_status() -> dict[str, str]:
    fields = {}
    for line in Path("/proc/self/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key.startswith(("Seccomp", "NoNewPrivs")):
            fields[key] = value.strip()
    return fields


def in_child(seccomp: dict[str, Any], body: Callable[[], Any]) -> tuple[int, Any]:
    """Fork; the child sets no_new_privs, loads the filter and runs `body`.

    Returns the child's wait status and what `body` returned (None if the child died).
    """
    compiled = compile_seccomp(seccomp)
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: never returns into pytest
        code = 1
        try:
            os.close(read_end)
            set_no_new_privs()
            load(compiled)
            payload = json.dumps({"ok": body()})
            code = 0
        except BaseException as error:
            payload = json.dumps({"error": repr(error)})
        finally:
            try:
                os.write(write_end, payload.encode())
            finally:
                os._exit(code)
    os.close(write_end)
    with os.fdopen(read_end, "rb") as pipe:
        output = pipe.read()
    _, status = os.waitpid(pid, 0)
    if not output:
        return status, None
    message = json.loads(output)
    assert "error" not in message, message["error"]
    return status, message["ok"]


def errno_rule(name: str, errno_ret: int, *args: dict[str, Any]) -> dict[str, Any]:
    return {"names": [name], "action": "SCMP_ACT_ERRNO", "errnoRet": errno_ret, "args": list(args)}


def test_mkdir_with_a_given_mode_fails_with_the_given_errno(tmp_path: Path) -> None:
    mode = 0o751
    seccomp = {
        "defaultAction": "SCMP_ACT_ALLOW",
        "syscalls": [
            errno_rule("mkdir", errno.EROFS, {"index": 1, "value": mode, "op": "SCMP_CMP_EQ"}),
            errno_rule("mkdirat", errno.EROFS, {"index": 2, "value": mode, "op": "SCMP_CMP_EQ"}),
        ],
    }

    def body() -> dict[str, Any]:
        result: dict[str, Any] = {"status": seccomp_status()}
        try:
            os.mkdir(tmp_path / "refused", mode)
            result["refused"] = 0
        except OSError as error:
            result["refused"] = error.errno
        os.mkdir(tmp_path / "allowed", 0o755)
        result["allowed"] = (tmp_path / "allowed").is_dir()
        return result

    status, result = in_child(seccomp, body)
    assert os.waitstatus_to_exitcode(status) == 0
    assert result["refused"] == errno.EROFS
    assert result["allowed"] is True
    assert not (tmp_path / "refused").exists()
    assert result["status"]["Seccomp"] == "2"
    assert result["status"]["NoNewPrivs"] == "1"
    assert result["status"].get("Seccomp_filters", "1") == "1"


def test_64_bit_argument_comparison_in_the_kernel() -> None:
    big = 1 << 32
    seccomp = {
        "defaultAction": "SCMP_ACT_ALLOW",
        "syscalls": [errno_rule("getcwd", 77, {"index": 1, "value": big, "op": "SCMP_CMP_GE"})],
    }

    def body() -> list[tuple[int, int]]:
        buffer = ctypes.create_string_buffer(4096)
        address = ctypes.addressof(buffer)
        return [
            raw_syscall(NR["getcwd"], address, 4096),
            raw_syscall(NR["getcwd"], address, big + 4096),
            raw_syscall(NR["getcwd"], address, big - 1),
        ]

    status, result = in_child(seccomp, body)
    assert os.waitstatus_to_exitcode(status) == 0
    small, large, just_below = result
    assert small[0] > 0
    assert large == [-1, 77]
    assert just_below[0] > 0


def test_kill_process_action_delivers_sigsys() -> None:
    seccomp = {
        "defaultAction": "SCMP_ACT_ALLOW",
        "syscalls": [{"names": ["getppid"], "action": "SCMP_ACT_KILL_PROCESS"}],
    }
    status, result = in_child(seccomp, os.getppid)
    assert result is None
    assert os.WIFSIGNALED(status)
    assert os.WTERMSIG(status) == signal.SIGSYS


def test_x32_calls_are_killed_when_x32_is_not_listed() -> None:
    seccomp = {"defaultAction": "SCMP_ACT_ALLOW", "architectures": ["SCMP_ARCH_X86_64"]}
    status, result = in_child(seccomp, lambda: raw_syscall(X32_BIT | NR["getpid"]))
    assert result is None
    assert os.WIFSIGNALED(status)
    assert os.WTERMSIG(status) == signal.SIGSYS


def test_x32_listed_applies_rules_to_x32_numbers() -> None:
    seccomp = {
        "defaultAction": "SCMP_ACT_ALLOW",
        "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X32"],
        "syscalls": [errno_rule("getppid", 66)],
    }

    def body() -> list[tuple[int, int]]:
        return [
            raw_syscall(NR["getppid"]),
            raw_syscall(tables.X32["getppid"]),
            raw_syscall(tables.X32["getpid"]),  # allowed: a pid, or ENOSYS without x32
        ]

    status, result = in_child(seccomp, body)
    assert os.waitstatus_to_exitcode(status) == 0
    native, x32, x32_getpid = result
    assert native == [-1, 66]
    assert x32 == [-1, 66]
    assert x32_getpid[0] > 0 or x32_getpid == [-1, errno.ENOSYS]


def test_flags_are_accepted_by_the_kernel() -> None:
    seccomp = {
        "defaultAction": "SCMP_ACT_ALLOW",
        "flags": ["SECCOMP_FILTER_FLAG_TSYNC", "SECCOMP_FILTER_FLAG_SPEC_ALLOW"],
        "syscalls": [errno_rule("getppid", 12)],
    }
    status, result = in_child(seccomp, lambda: raw_syscall(NR["getppid"]))
    assert os.waitstatus_to_exitcode(status) == 0
    assert result == [-1, 12]


def test_a_program_with_long_jumps_loads_and_works() -> None:
    # A conditional rule for every syscall: thousands of instructions, with trampolines.
    marker = 0xDEAD_0000_0000
    seccomp = {
        "defaultAction": "SCMP_ACT_ALLOW",
        "syscalls": [
            errno_rule(name, nr % 100 + 1, {"index": 5, "value": marker + nr, "op": "SCMP_CMP_EQ"})
            for name, nr in NR.items()
        ],
    }
    assert compile_seccomp(seccomp).instructions > 1000

    def body() -> list[tuple[int, int]]:
        results = []
        for name in ("getppid", "getuid", "umask", "sched_yield"):
            nr = NR[name]
            arg = 0o22 if name == "umask" else 0
            results.append(raw_syscall(nr, arg, 0, 0, 0, 0, marker + nr))
            results.append(raw_syscall(nr, arg, 0, 0, 0, 0, 0))
        return results

    status, result = in_child(seccomp, body)
    assert os.waitstatus_to_exitcode(status) == 0
    for position, name in enumerate(("getppid", "getuid", "umask", "sched_yield")):
        marked, plain = result[2 * position], result[2 * position + 1]
        assert marked == [-1, NR[name] % 100 + 1], name
        assert plain[0] >= 0, name


def test_docker_default_profile(tmp_path: Path) -> None:
    seccomp = docker_default_oci("amd64")
    (tmp_path / "file").write_text("hello")
    clone_newuser = 0x10000000
    af_vsock, sock_stream = 40, 1

    def body() -> dict[str, Any]:
        return {
            "read": (tmp_path / "file").read_text(),
            "listdir": sorted(os.listdir(tmp_path)),
            "unshare": raw_syscall(NR["unshare"], clone_newuser),
            "clone3": raw_syscall(NR["clone3"], 0, 0),
            "vsock": raw_syscall(NR["socket"], af_vsock, sock_stream, 0),
            "personality": raw_syscall(NR["personality"], 0xFFFFFFFF),
            "mount": raw_syscall(NR["mount"], 0, 0, 0, 0, 0),
            "status": seccomp_status(),
        }

    status, result = in_child(seccomp, body)
    assert os.waitstatus_to_exitcode(status) == 0
    assert result["read"] == "hello"
    assert result["listdir"] == ["file"]
    assert result["unshare"] == [-1, errno.EPERM]
    assert result["clone3"] == [-1, errno.ENOSYS]
    assert result["vsock"] == [-1, errno.EPERM]
    assert result["personality"][0] >= 0
    assert result["mount"] == [-1, errno.EPERM]
    assert result["status"]["Seccomp"] == "2"
