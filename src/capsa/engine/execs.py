"""`exec`: another process in a running container, with the container's environment,
user, capabilities and seccomp filter, and the flags laid over them (Docker's exec)."""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any

from capsa.engine.state import PAUSED, RUNNING
from capsa.engine.users import resolve_in_rootfs
from capsa.errors import Conflict, InvalidArgument

if TYPE_CHECKING:
    from capsa.engine.engine import Engine


def exec_process(
    engine: Engine,
    container_id: str,
    command: list[str],
    *,
    env: Sequence[str],
    user: str,
    workdir: str,
    tty: bool,
    privileged: bool,
) -> dict[str, Any]:
    with open(os.path.join(engine.layout.bundle(container_id), "config.json")) as f:
        config: dict[str, Any] = json.load(f)
    base = config["process"]
    merged: dict[str, str] = {}
    for entry in [*base.get("env", []), *env]:
        key, sep, value = entry.partition("=")
        if not key:
            raise InvalidArgument(f"invalid environment variable {entry!r}: empty name")
        merged[key] = value if sep else os.environ.get(key, "")
    if tty:
        merged.setdefault("TERM", "xterm")
    if workdir and not os.path.isabs(workdir):
        raise InvalidArgument(f"invalid working directory {workdir!r}: it must be absolute")
    process: dict[str, Any] = {
        "args": command,
        "env": [f"{key}={value}" for key, value in merged.items()],
        "cwd": workdir or base.get("cwd", "/"),
        "terminal": tty,
        "user": dict(base.get("user", {"uid": 0, "gid": 0})),
        "noNewPrivileges": bool(base.get("noNewPrivileges")),
    }
    if user:
        resolved = resolve_in_rootfs(engine.layout.rootfs(container_id), user, [])
        process["user"] = {"uid": resolved.uid, "gid": resolved.gid}
        if resolved.additional_gids:
            process["user"]["additionalGids"] = list(resolved.additional_gids)
    if privileged:
        from capsa.kernel.caps import CAPABILITY_NAMES, last_cap

        every = [CAPABILITY_NAMES[n] for n in range(last_cap() + 1) if n in CAPABILITY_NAMES]
        process["capabilities"] = {k: list(every) for k in ("bounding", "effective", "permitted")}
    elif "capabilities" in base:
        process["capabilities"] = base["capabilities"]
    for key in ("rlimits", "apparmorProfile", "selinuxLabel"):
        if key in base:
            process[key] = base[key]
    return process


@contextlib.contextmanager
def _stdio(interactive: bool, detach: bool) -> Iterator[None]:
    """The exec'd process inherits our stdio: /dev/null for what it must not have."""
    replaced = [0] if not interactive else []
    if detach:
        replaced = [0, 1, 2]
    saved = [(fd, os.dup(fd)) for fd in replaced]
    null = os.open(os.devnull, os.O_RDWR | os.O_CLOEXEC)
    try:
        for fd in replaced:
            os.dup2(null, fd)
        yield
    finally:
        for fd, copy in saved:
            os.dup2(copy, fd)
            os.close(copy)
        os.close(null)


def exec_in(
    engine: Engine,
    text: str,
    command: list[str],
    *,
    env: Sequence[str] = (),
    user: str = "",
    workdir: str = "",
    tty: bool = False,
    interactive: bool = False,
    detach: bool = False,
    privileged: bool = False,
) -> int:
    record = engine.find(text)
    if record.state.status == PAUSED:
        raise Conflict(
            f"container {record.name} is paused",
            hint=f"unpause it first: capsa unpause {record.name}",
        )
    if record.state.status != RUNNING:
        raise Conflict(
            f"container {record.name} is not running",
            hint=f"start it first: capsa start {record.name}",
        )
    process = exec_process(
        engine,
        record.id,
        command,
        env=env,
        user=user,
        workdir=workdir,
        tty=tty,
        privileged=privileged,
    )
    runtime = engine.runtime(record.state.runtime or record.spec.runtime)
    engine.event("container", f"exec_start: {' '.join(command)}", record)
    from capsa.engine.spawner import program_error
    from capsa.errors import ContainerError

    with _stdio(interactive or tty, detach and not tty):
        try:
            code = runtime.exec(record.id, process, detach=detach and not tty)
        except ContainerError as exc:
            raise program_error(
                f"cannot exec in container {record.name}: {exc}", str(exc)
            ) from None
    engine.event("container", "exec_die", record, exitCode=str(code))
    return code
