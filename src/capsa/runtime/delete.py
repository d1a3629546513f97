"""`delete`: remove every trace of a container: processes, cgroup, state; then the
poststop hooks."""

from __future__ import annotations

import os
import time

from capsa.errors import CapsaError, Conflict, HookFailed
from capsa.runtime import cgroup
from capsa.runtime.container import CREATED, PAUSED, STOPPED, Container
from capsa.runtime.hooks import run_hooks
from capsa.runtime.state import StateStore

SIGKILL = 9


def _warn(message: str) -> None:
    os.write(2, f"capsa-runtime: warning: {message}\n".encode())


def delete_container(store: StateStore, container_id: str, *, force: bool = False) -> None:
    with store.locked(container_id):
        container = Container.load(store, container_id)
        status = container.status()
        if status not in (STOPPED, CREATED) and not force:
            raise Conflict(
                f"cannot delete container {container_id!r} that is not stopped: {status}",
                hint="stop it first, or use delete --force",
            )
        config = container.config()
        oci_state = container.oci_state()
        manager = container.cgroup()
        if status == PAUSED:
            manager.thaw()
        if status != STOPPED:
            try:
                if container.alive():
                    os.kill(container.state.pid, SIGKILL)
                manager.kill_all(SIGKILL)
            except OSError:
                pass
            _wait_dead(container)
        cgroup.remove(manager)
        store.release(container_id)
    oci_state["status"] = STOPPED
    try:
        run_hooks("poststop", config.get("hooks", {}).get("poststop", []), oci_state)
    except HookFailed as exc:
        # runtime.md: poststop failures are warnings, the lifecycle goes on.
        _warn(str(exc))
    except CapsaError as exc:
        _warn(f"poststop hooks: {exc}")


def _wait_dead(container: Container, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while container.alive() and time.monotonic() < deadline:
        time.sleep(0.002)
