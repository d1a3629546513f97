"""OCI lifecycle hooks: run each with the container state on stdin, within its timeout."""

from __future__ import annotations

import os
import time

from capsa.errors import HookFailed
from capsa.fastjson import dumps

TYPE_CHECKING = False

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence
    from typing import Any


def run_hooks(kind: str, hooks: Sequence[Mapping[str, Any]], state: Mapping[str, Any]) -> None:
    """Run hooks of one kind in order; the first failure raises HookFailed."""
    if not hooks:
        return
    payload = dumps(state).encode()
    for index, hook in enumerate(hooks):
        _run_one(f"{kind} hook #{index} ({hook['path']})", hook, payload)


def _run_one(what: str, hook: Mapping[str, Any], payload: bytes) -> None:
    import subprocess  # only when a hook exists: keeps the common path's imports small

    path = hook["path"]
    args = list(hook.get("args") or [path])
    env = dict(item.split("=", 1) for item in hook.get("env", []))
    timeout = hook.get("timeout")
    try:
        proc = subprocess.Popen(
            args,
            executable=path,
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            close_fds=True,
            start_new_session=True,
        )
    except OSError as exc:
        raise HookFailed(f"{what} could not be started: {exc.strerror}") from None
    started = time.monotonic()
    try:
        out, err = proc.communicate(payload, timeout=timeout)
    except subprocess.TimeoutExpired:
        try:
            os.killpg(proc.pid, 9)
        except ProcessLookupError:
            pass
        proc.communicate()
        raise HookFailed(f"{what} timed out after {timeout}s") from None
    if proc.returncode != 0:
        detail = (err or out).decode(errors="replace").strip().splitlines()
        tail = f": {detail[-1]}" if detail else ""
        how = (
            f"was killed by signal {-proc.returncode}"
            if proc.returncode < 0
            else f"exited with status {proc.returncode}"
        )
        raise HookFailed(f"{what} {how} after {time.monotonic() - started:.1f}s{tail}")
