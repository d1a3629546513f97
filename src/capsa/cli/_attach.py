"""The terminal side of an attach (`capsa run` in the foreground, `start -a`, `attach`):
copy our stdin to the container and its output to our stdout and stderr through the
monitor's attach protocol; in raw mode with a tty, passing window sizes on; the detach
keys (ctrl-p,ctrl-q) leave the container running."""

from __future__ import annotations

import contextlib
import os
import select
import signal
import socket
import struct
import sys
import termios
from collections.abc import Callable, Iterator
from types import FrameType

from capsa.errors import ContainerError, InvalidArgument
from capsa.monitor import attach as protocol

DEFAULT_DETACH_KEYS = "ctrl-p,ctrl-q"


class Detached(Exception):
    """The user typed the detach keys."""


def parse_detach_keys(text: str) -> bytes:
    """Docker's --detach-keys: `ctrl-p,ctrl-q`, `a`, `ctrl-@`…"""
    keys = bytearray()
    for item in (text or DEFAULT_DETACH_KEYS).split(","):
        if len(item) == 1:
            keys.append(ord(item))
        elif item.startswith("ctrl-") and len(item) == 6:
            char = item[5].lower()
            if "a" <= char <= "z":
                keys.append(ord(char) - ord("a") + 1)
            elif char in "@[\\]^_":
                keys.append(ord(char.upper()) - 64 if char != "@" else 0)
            else:
                raise InvalidArgument(f"invalid detach key {item!r}")
        else:
            raise InvalidArgument(
                f"invalid detach keys {text!r}", hint="e.g. ctrl-p,ctrl-q or a single letter"
            )
    return bytes(keys)


def _window_size() -> tuple[int, int] | None:
    if not os.isatty(0):
        return None
    import fcntl

    rows, cols = struct.unpack("HHHH", fcntl.ioctl(0, termios.TIOCGWINSZ, b"\0" * 8))[:2]
    return rows, cols


@contextlib.contextmanager
def _raw_terminal(enabled: bool) -> Iterator[None]:
    if not enabled or not os.isatty(0):
        yield
        return
    import tty

    saved = termios.tcgetattr(0)
    tty.setraw(0)
    try:
        yield
    finally:
        termios.tcsetattr(0, termios.TCSADRAIN, saved)


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        try:
            view = view[os.write(fd, view) :]
        except BlockingIOError:
            select.select([], [fd], [])


def relay(
    connection: socket.socket,
    *,
    stdin: bool,
    tty: bool,
    detach_keys: str = "",
    on_signal: Callable[[int], None] | None = None,
) -> int:
    """Relay until the container exits; returns its exit code. Raises Detached when the
    user detaches, ContainerError when the monitor reports one."""
    keys = parse_detach_keys(detach_keys) if tty and stdin else b""
    reader = protocol.FrameReader()
    stdin_open = stdin
    matched = 0
    wake_r, wake_w = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
    previous: dict[int, object] = {}
    pending_signals: list[int] = []

    def handler(signum: int, frame: FrameType | None) -> None:
        pending_signals.append(signum)
        with contextlib.suppress(BlockingIOError):
            os.write(wake_w, b"\0")

    watched: list[int] = [signal.SIGWINCH] if tty else []
    if on_signal is not None and not tty:
        watched += [
            signal.SIGINT,
            signal.SIGTERM,
            signal.SIGHUP,
            signal.SIGQUIT,
            signal.SIGUSR1,
            signal.SIGUSR2,
        ]
    for sig in watched:
        previous[sig] = signal.signal(sig, handler)

    def resize() -> None:
        size = _window_size()
        if size is not None:
            connection.sendall(protocol.control({"resize": list(size)}))

    try:
        with _raw_terminal(tty and stdin):
            if tty:
                resize()
            while True:
                readers = [connection.fileno(), wake_r] + ([0] if stdin_open else [])
                try:
                    ready, _, _ = select.select(readers, [], [])
                except InterruptedError:
                    continue
                if wake_r in ready:
                    with contextlib.suppress(BlockingIOError):
                        os.read(wake_r, 64)
                    while pending_signals:
                        signum = pending_signals.pop(0)
                        if signum == signal.SIGWINCH:
                            resize()
                        elif on_signal is not None:
                            on_signal(signum)
                if connection.fileno() in ready:
                    data = connection.recv(1 << 16)
                    if not data:
                        raise ContainerError("lost the connection to the container's monitor")
                    for stream, payload in reader.feed(data):
                        if stream == protocol.STDOUT:
                            _write_all(1, payload)
                        elif stream == protocol.STDERR:
                            _write_all(2, payload)
                        elif stream == protocol.CONTROL:
                            message = protocol.decode_control(payload)
                            if "error" in message:
                                raise ContainerError(str(message["error"]))
                            if "exit" in message:
                                return int(message["exit"])
                if stdin_open and 0 in ready:
                    data = os.read(0, 1 << 16)
                    if not data:
                        stdin_open = False
                        connection.sendall(protocol.control({"close_stdin": True}))
                        continue
                    if keys:
                        out = bytearray()
                        for byte in data:
                            if byte == keys[matched]:
                                matched += 1
                                if matched == len(keys):
                                    raise Detached()
                                continue
                            if matched:
                                out += keys[:matched]
                                matched = 0
                            out.append(byte)
                        data = bytes(out)
                    if data:
                        connection.sendall(protocol.frame(protocol.STDIN, data))
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)  # type: ignore[arg-type]
        os.close(wake_r)
        os.close(wake_w)
        sys.stdout.flush()
