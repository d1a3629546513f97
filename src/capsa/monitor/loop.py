"""The monitor host's event loop: one poll() for every container it supervises.

It knows nothing of containers: handlers for file descriptors, objects with a deadline
(`Timed`), and child processes. Children are reaped with waitpid(-1, WNOHANG) when a
SIGCHLD wakes the loop through a self-pipe; an exit whose pid nobody watches yet is kept
for a while (UNCLAIMED_FOR), because a container's init may exit before the worker that
started it has told us its pid. A handler that raises is reported on stderr (the host's
log) and the loop goes on: one container's bug must not end the others' supervision.
"""

from __future__ import annotations

import os
import select
import signal
import sys
import time
import traceback
from collections.abc import Callable
from typing import Protocol

IN = select.POLLIN | select.POLLHUP | select.POLLERR
OUT = select.POLLOUT
UNCLAIMED_FOR = 60.0  # seconds an exit nobody watched is kept for a late watcher


class Timed(Protocol):
    def deadline(self) -> float | None:
        """time.monotonic() at which on_deadline() is due, or None."""
        ...

    def on_deadline(self) -> None: ...


class EventLoop:
    def __init__(self) -> None:
        self.poller = select.poll()
        self.handlers: dict[int, Callable[[int], None]] = {}
        self.children: dict[int, Callable[[int], None]] = {}
        self.unclaimed: dict[int, tuple[int, float]] = {}  # pid -> (status, reaped at)
        self.timed: set[Timed] = set()
        self.soon: list[Callable[[], None]] = []
        self.wake_r, self.wake_w = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)

    def install_signals(self) -> None:
        """SIGCHLD wakes the loop (the handler itself does nothing)."""
        signal.signal(signal.SIGCHLD, lambda signum, frame: None)
        signal.set_wakeup_fd(self.wake_w, warn_on_full_buffer=False)
        self.add(self.wake_r, IN, self._drain_wake)

    # -- registrations --------------------------------------------------------------------

    def add(self, fd: int, events: int, handler: Callable[[int], None]) -> None:
        self.handlers[fd] = handler
        self.poller.register(fd, events)

    def modify(self, fd: int, events: int) -> None:
        if fd in self.handlers:
            self.poller.modify(fd, events)

    def remove(self, fd: int) -> None:
        if self.handlers.pop(fd, None) is not None:
            self.poller.unregister(fd)

    def watch_child(self, pid: int, callback: Callable[[int], None]) -> None:
        """Call `callback(wait status)` when `pid` is reaped (at once if it already was)."""
        done = self.unclaimed.pop(pid, None)
        if done is not None:
            self.soon.append(lambda: callback(done[0]))
        else:
            self.children[pid] = callback

    def forget_child(self, pid: int) -> None:
        self.children.pop(pid, None)

    def call_soon(self, callback: Callable[[], None]) -> None:
        self.soon.append(callback)

    # -- one turn ---------------------------------------------------------------------------

    def run_once(self, longest: float | None = None) -> bool:
        """Wait for events (at most `longest` seconds, or until the soonest deadline),
        handle them, reap children, run what is due. Whether there were any events."""
        timeout: int | None = None
        if self.soon:
            timeout = 0
        else:
            now = time.monotonic()
            soonest = min(
                (d for d in (t.deadline() for t in list(self.timed)) if d is not None),
                default=None,
            )
            if longest is not None:
                soonest = min(soonest, now + longest) if soonest is not None else now + longest
            if soonest is not None:
                timeout = max(0, int((soonest - now) * 1000) + 1)
        try:
            events = self.poller.poll(timeout)
        except InterruptedError:
            events = []
        for fd, event in events:
            handler = self.handlers.get(fd)
            if handler is not None:
                self._call(handler, event)
        self._reap()
        self._run_soon()
        now = time.monotonic()
        for timed in list(self.timed):
            if timed not in self.timed:
                continue
            due = timed.deadline()
            if due is not None and due <= now:
                self._call(timed.on_deadline)
        self._run_soon()
        return bool(events)

    def _run_soon(self) -> None:
        while self.soon:
            callbacks, self.soon = self.soon, []
            for callback in callbacks:
                self._call(callback)

    def _call(self, callback: Callable[..., None], *args: int) -> None:
        try:
            callback(*args)
        except Exception:
            traceback.print_exc(file=sys.stderr)

    def _drain_wake(self, event: int) -> None:
        try:
            while os.read(self.wake_r, 512):
                pass
        except BlockingIOError:
            pass

    def _reap(self) -> None:
        now = time.monotonic()
        while True:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                break
            if pid == 0:
                break
            callback = self.children.pop(pid, None)
            if callback is not None:
                self._call(callback, status)
            else:
                self.unclaimed[pid] = (status, now)
        for pid, (_, reaped) in list(self.unclaimed.items()):
            if now - reaped > UNCLAIMED_FOR:
                del self.unclaimed[pid]
