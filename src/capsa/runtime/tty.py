"""The caller's side of a container terminal when no --console-socket was given:
receive the pty master and copy bytes between it and our own stdio, in raw mode,
passing window size changes on."""

from __future__ import annotations

import contextlib
import errno
import os
import select
import signal
import socket
import struct
import sys
import termios
import tty
from collections.abc import Iterator
from types import FrameType

from capsa.runtime import console


class TtyProxy:
    def __init__(self) -> None:
        self.ours, self.theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        self.master = -1

    def after_fork(self) -> None:
        self.theirs.close()

    def receive(self) -> None:
        self.master = console.receive_master(self.ours)
        self.ours.close()
        _copy_window_size(self.master)

    def relay(self, pid: int) -> int:
        """Copy until the process exits and the pty drains; return its wait status."""
        status: int | None = None
        with _raw_stdin(), _resize_on_sigwinch(self.master):
            stdin_open = True
            while True:
                readers = [self.master] + ([0] if stdin_open else [])
                try:
                    ready, _, _ = select.select(readers, [], [], 0.1)
                except InterruptedError:
                    continue
                if self.master in ready:
                    try:
                        data = os.read(self.master, 65536)
                    except OSError as exc:
                        if exc.errno != errno.EIO:
                            raise
                        data = b""
                    if not data:
                        break
                    _write_all(1, data)
                if 0 in ready:
                    data = os.read(0, 65536)
                    if data:
                        _write_all(self.master, data)
                    else:
                        stdin_open = False
                if status is None:
                    done, code = os.waitpid(pid, os.WNOHANG)
                    if done:
                        status = code
        os.close(self.master)
        if status is None:
            _, status = os.waitpid(pid, 0)
        return status


def _write_all(fd: int, data: bytes) -> None:
    while data:
        written = os.write(fd, data)
        data = data[written:]


def _copy_window_size(master: int) -> None:
    if not os.isatty(0):
        return
    import fcntl

    size = fcntl.ioctl(0, termios.TIOCGWINSZ, b"\0" * 8)
    rows, cols = struct.unpack("HHHH", size)[:2]
    console.set_window_size(master, rows, cols)


@contextlib.contextmanager
def _raw_stdin() -> Iterator[None]:
    if not os.isatty(0):
        yield
        return
    saved = termios.tcgetattr(0)
    tty.setraw(0)
    try:
        yield
    finally:
        termios.tcsetattr(0, termios.TCSADRAIN, saved)
        sys.stdout.flush()


@contextlib.contextmanager
def _resize_on_sigwinch(master: int) -> Iterator[None]:
    def handler(signum: int, frame: FrameType | None) -> None:
        _copy_window_size(master)

    previous = signal.signal(signal.SIGWINCH, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGWINCH, previous)
