"""`start`: release a created container's init to exec the user's program."""

from __future__ import annotations

import errno
import os
import select

from capsa.errors import Conflict, ContainerError, HookFailed
from capsa.runtime.container import CREATED, Container
from capsa.runtime.hooks import run_hooks
from capsa.runtime.state import StateStore


def start_container(store: StateStore, container_id: str) -> None:
    with store.locked(container_id):
        container = Container.load(store, container_id)
        status = container.status()
        if status != CREATED:
            raise Conflict(f"cannot start container {container_id!r}: it is {status}, not created")
        _release_init(store, container)
        container.state.started = True  # as the store tells it from now on (no fifo)
        config = container.config()
    hooks = config.get("hooks", {}).get("poststart", [])
    if hooks:
        state = container.oci_state()
        try:
            run_hooks("poststart", hooks, state)
        except HookFailed:
            # runtime.md: a failed poststart hook stops the container, then the error.
            try:
                container.cgroup().kill_all(9)
            except OSError:
                pass
            raise


def _release_init(store: StateStore, container: Container) -> None:
    fifo = store.exec_fifo(container.id)
    # Non-blocking open: a dead init must give an error, not hang `start` forever.
    fd = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    try:
        poller = select.poll()
        poller.register(fd, select.POLLIN | select.POLLHUP)
        while True:
            events = poller.poll(100)
            if events:
                try:
                    data = os.read(fd, 1)
                except OSError as exc:
                    if exc.errno == errno.EAGAIN:
                        continue
                    raise
                if data:
                    break
            if not container.alive():
                raise ContainerError(f"container {container.id!r} exited before it could start")
    finally:
        os.close(fd)
    os.unlink(fifo)
