"""One supervised container inside the monitor host: its stdio, log, attach clients,
exit and restarts, driven by the host's event loop (capsa.monitor.loop).

A start is done by a short-lived worker the caller's hooks fork (`Hooks.launch`): it gets
the stdio this session made (pipes; or /dev/null and the path of a console socket this
session listens on, through which the runtime hands over the terminal's master), creates
and starts the container, and reports on a SOCK_SEQPACKET socket, one JSON message each,
with file descriptors the host must keep (published ports' sockets) attached:

    {"created": ID, "name": NAME}   {"failed": {...}}   (a `run` request's create)
    {"started": PID}                {"error": "message"}

The container's init then reparents to the host (a child subreaper), which reaps it.

Writes to clients and to the container's stdin never block the loop: what cannot be
written waits in a buffer, and a client that falls too far behind is dropped rather than
stalling the container.
"""

from __future__ import annotations

import errno
import json
import os
import signal
import socket
import struct
import sys
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

from capsa.monitor import attach
from capsa.monitor.logfile import JsonFileWriter
from capsa.monitor.loop import IN, OUT, EventLoop

READ_SIZE = 1 << 16
CLIENT_BACKLOG = 8 << 20  # bytes a slow attach client may fall behind before it is dropped
DRAIN_AFTER_EXIT = 2.0  # seconds to wait for output still in flight after the init exits
RESTART_POLL = 0.2  # seconds between looks at whether a pending restart was called off
FLUSH_AT_END = 2.0  # seconds clients get to take the last frames
FLUSH_AFTER_ERROR = 1.0
CONSOLE_TIMEOUT = 5.0  # the runtime connected before create returned: this is a bound only
MAX_REPORT = 1 << 16
MAX_REPORT_FDS = 64

_T = TypeVar("_T")

STARTING, RUNNING, DRAINING, BACKOFF, CLOSING, DONE = range(6)


class Hooks(Protocol):
    def launch(self, stdio: list[int], console_socket: str | None, report: socket.socket) -> int:
        """Fork the worker that creates and starts the container with `stdio` as its fds
        0-2 and reports on `report`; its pid."""
        ...

    def reported(self, message: dict[str, Any], fds: list[int]) -> None:
        """A worker's report, with the fds that came with it (now the hooks' to close)."""
        ...

    def attach_path(self) -> str | None:
        """Where `capsa attach` connects ("" for none; None while the container is not
        created yet): asked once a start is under way, off the start's path."""
        ...

    def log_target(self) -> tuple[str, int, int] | None:
        """(path, max size, max files) of the json-file log, None with log driver none."""
        ...

    def started(self, pid: int) -> None: ...

    def exited(self, status: int) -> float | None:
        """Record the exit (a wait status); seconds to wait before a restart, or None."""
        ...

    def restart_cancelled(self) -> bool:
        """Asked now and then while waiting to restart: True to give it up."""
        ...

    def finished(self, code: int) -> None:
        """Last words: no restart will come (clean up, auto-remove)."""
        ...

    def next_timer(self) -> float | None:
        """time.monotonic() of the next timer (health check), or None."""
        ...

    def on_timer(self) -> int:
        """The timer is due; the pid of a child it started (0: none) to be reaped."""
        ...

    def child_exited(self, pid: int, status: int) -> None:
        """A child on_timer started was reaped."""
        ...


@dataclass
class SessionOptions:
    tty: bool = False
    stdin_open: bool = False
    stdin_once: bool = False
    console_path: str = ""  # where the terminal is handed over (tty only)


def exit_code(status: int) -> int:
    if os.WIFSIGNALED(status):
        return 128 + os.WTERMSIG(status)
    return os.WEXITSTATUS(status)


def _safely(hook: Callable[..., _T], failed: _T, *args: int) -> _T:
    """A hook's answer; `failed` if it raised (reported on stderr, the host's log): the
    session must go on to its end whatever the engine's side did, or it would be stuck
    and the container shown as supervised for ever."""
    try:
        return hook(*args)
    except Exception:
        traceback.print_exc(file=sys.stderr)
        return failed


class _Client:
    __slots__ = (
        "attached",
        "closing",
        "pending",
        "reader",
        "sock",
        "stderr",
        "stdin",
        "stdout",
        "told_started",
    )  # fmt: skip

    def __init__(self, sock: socket.socket) -> None:
        sock.setblocking(False)
        self.sock = sock
        self.reader = attach.FrameReader()
        self.pending = bytearray()
        self.attached = False
        self.stdin = False
        self.stdout = False
        self.stderr = False
        self.closing = False  # flush what is pending, then close
        self.told_started = 0  # the init pid this client heard of

    def fileno(self) -> int:
        return self.sock.fileno()


class Session:
    def __init__(
        self,
        loop: EventLoop,
        hooks: Hooks,
        options: SessionOptions,
        *,
        first_client: socket.socket | None = None,
        on_done: Callable[[Session], None] | None = None,
    ) -> None:
        self.loop = loop
        self.hooks = hooks
        self.options = options
        self.on_done = on_done
        self.clients: dict[int, _Client] = {}
        self.outputs: dict[int, str] = {}  # fd -> "stdout" | "stderr"
        self.stdin_fd = -1
        self.stdin_pending = bytearray()
        self.close_stdin_after_flush = False
        self.master = -1
        self.init_pid = 0
        self.init_status: int | None = None
        self.code = 0
        self.phase = STARTING
        self.due: float | None = None  # this phase's deadline
        self.restart_at = 0.0
        self.report: socket.socket | None = None
        self.console: socket.socket | None = None
        self.console_dir = -1
        self.listener: socket.socket | None = None
        self.log: JsonFileWriter | None = None
        self.ever_started = False
        self.opened = False  # the attach listener and the log
        if first_client is not None:
            self.add_client(first_client)

    # -- the loop's side (Timed) ------------------------------------------------------------

    def deadline(self) -> float | None:
        if self.phase == RUNNING:
            return self.hooks.next_timer()
        return self.due

    def on_deadline(self) -> None:
        if self.phase == RUNNING:
            pid = _safely(self.hooks.on_timer, 0)
            if pid:
                self.loop.watch_child(pid, lambda status: self.hooks.child_exited(pid, status))
        elif self.phase == DRAINING:
            self._drained()
        elif self.phase == BACKOFF:
            self._backoff_tick()
        elif self.phase == CLOSING:
            self._close()

    # -- a start ----------------------------------------------------------------------------

    def start(self) -> None:
        """Make the stdio and fork a worker to create and start the container with it."""
        self.phase = STARTING
        self.due = None
        self.init_pid = 0
        self.init_status = None
        self.loop.timed.add(self)
        mine, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        stdio: list[int] = []
        try:
            console_socket = self._make_stdio(stdio)
            worker = self.hooks.launch(stdio, console_socket, theirs)
        except Exception as exc:
            mine.close()
            self._start_failed(str(exc))
            return
        finally:
            theirs.close()
            for fd in stdio:
                os.close(fd)
        mine.setblocking(False)
        self.report = mine
        self.loop.add(mine.fileno(), IN, self._on_report)
        self.loop.watch_child(worker, lambda status: None)
        self._open_listener_and_log()  # while the worker works

    def _make_stdio(self, theirs: list[int]) -> str | None:
        """The container's ends into `theirs`; the console socket's path with a tty."""
        if self.options.tty:
            path = self.options.console_path
            self.console_dir = os.open(os.path.dirname(path), os.O_PATH | os.O_DIRECTORY)
            self.console = attach.listen(path, backlog=1)
            for _ in range(3):
                theirs.append(os.open(os.devnull, os.O_RDWR | os.O_CLOEXEC))
            # Reached through our own fd table: short, and usable by any runtime process.
            return f"/proc/{os.getpid()}/fd/{self.console_dir}/{os.path.basename(path)}"
        if self.options.stdin_open:
            read_end, write_end = os.pipe2(os.O_CLOEXEC)
            os.set_blocking(write_end, False)
            self.stdin_fd = write_end
            theirs.append(read_end)
        else:
            theirs.append(os.open(os.devnull, os.O_RDONLY | os.O_CLOEXEC))
        for name in ("stdout", "stderr"):
            read_end, write_end = os.pipe2(os.O_CLOEXEC)
            os.set_blocking(read_end, False)
            self.outputs[read_end] = name  # polled once the container started
            theirs.append(write_end)
        return None

    def _on_report(self, event: int) -> None:
        assert self.report is not None
        try:
            data, ancillary, _, _ = self.report.recvmsg(
                MAX_REPORT, socket.CMSG_SPACE(MAX_REPORT_FDS * 4)
            )
        except BlockingIOError:
            return
        except OSError:
            data, ancillary = b"", []
        fds: list[int] = []
        for level, kind, payload in ancillary:
            if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
                usable = len(payload) - len(payload) % 4
                fds.extend(struct.unpack(f"{usable // 4}i", payload[:usable]))
        if not data:
            for fd in fds:
                os.close(fd)
            self._end_report()
            if self.phase == STARTING:
                self._start_failed("the start worker exited before the container started")
            return
        try:
            message = json.loads(data)
        except ValueError:
            message = {}
        if not isinstance(message, dict):
            message = {}
        if "started" in message:
            self.hooks.reported(message, fds)
            self._started(int(message["started"]))
        elif "error" in message:
            for fd in fds:
                os.close(fd)
            self._end_report()
            self._start_failed(str(message["error"]))
        elif "failed" in message:  # a run request whose create failed: no container
            for fd in fds:
                os.close(fd)
            self._end_report()
            self._broadcast(message)
            self._close_stdio()
            self._begin_closing(1, FLUSH_AFTER_ERROR)
        else:
            self.hooks.reported(message, fds)
            self._broadcast(message)
            self._open_listener_and_log()

    def _end_report(self) -> None:
        if self.report is not None:
            self.loop.remove(self.report.fileno())
            self.report.close()
            self.report = None

    def _start_failed(self, message: str) -> None:
        self._close_stdio()
        self._close_console()
        self._broadcast({"error": message})
        self.code = 125
        _safely(self.hooks.finished, None, self.code)
        self._begin_closing(self.code, FLUSH_AFTER_ERROR)

    def _started(self, pid: int) -> None:
        if self.options.tty:
            try:
                self._receive_terminal()
            except Exception as exc:
                os.kill(pid, signal.SIGKILL)
                self._start_failed(f"no terminal from the runtime: {exc}")
                return
        self.ever_started = True
        self._open_listener_and_log()
        for fd in self.outputs:
            self.loop.add(fd, IN, self._output_handler(fd))
        self.phase = RUNNING
        self.init_pid = pid
        self.hooks.started(pid)
        self._broadcast({"started": pid})
        for client in self.clients.values():
            client.told_started = pid
        self.loop.watch_child(pid, self._init_exited)

    def _receive_terminal(self) -> None:
        from capsa.runtime.console import receive_master

        assert self.console is not None
        self.console.settimeout(CONSOLE_TIMEOUT)
        try:
            connection, _ = self.console.accept()
            with connection:
                connection.settimeout(CONSOLE_TIMEOUT)
                self.master = receive_master(connection)
        finally:
            self._close_console()
        os.set_blocking(self.master, False)
        self.outputs[self.master] = "stdout"
        self.stdin_fd = self.master

    def _close_console(self) -> None:
        if self.console is not None:
            self.console.close()
            self.console = None
            try:
                os.unlink(self.options.console_path)
            except FileNotFoundError:
                pass
        if self.console_dir >= 0:
            os.close(self.console_dir)
            self.console_dir = -1

    def _open_listener_and_log(self) -> None:
        if self.opened:
            return
        path = self.hooks.attach_path()
        if path is None:
            return
        self.opened = True
        if path:
            self.listener = attach.listen(path)
            self.listener.setblocking(False)
            self.loop.add(self.listener.fileno(), IN, self._accept)
        target = self.hooks.log_target()
        if target is not None:
            self.log = JsonFileWriter(*target)

    # -- an exit ----------------------------------------------------------------------------

    def _init_exited(self, status: int) -> None:
        self.init_status = status
        self.phase = DRAINING
        self.due = time.monotonic() + DRAIN_AFTER_EXIT
        if not self.outputs:
            self._drained()

    def _drained(self) -> None:
        """The output is all read (or the wait for it is over): record the exit."""
        if self.phase != DRAINING or self.init_status is None:
            return
        self._close_stdio()
        self._end_report()
        self.code = exit_code(self.init_status)
        if self.log is not None:
            self.log.flush()
        delay = _safely(self.hooks.exited, None, self.init_status)
        if delay is None:
            self._finish()
            return
        self._broadcast({"exit": self.code}, close=True)
        self.phase = BACKOFF
        self.restart_at = time.monotonic() + delay
        self.due = time.monotonic()  # ask at once whether it was called off

    def _backoff_tick(self) -> None:
        if _safely(self.hooks.restart_cancelled, True):
            self._finish()
            return
        now = time.monotonic()
        if now >= self.restart_at:
            self.start()
        else:
            self.due = min(self.restart_at, now + RESTART_POLL)

    def _finish(self) -> None:
        _safely(self.hooks.finished, None, self.code)
        self._begin_closing(self.code, FLUSH_AT_END, announce=True)

    def _begin_closing(self, code: int, seconds: float, *, announce: bool = False) -> None:
        self.code = code
        if announce:
            self._broadcast({"exit": code}, close=True)
        self.phase = CLOSING
        self.due = time.monotonic() + seconds
        if not any(c.pending for c in self.clients.values()):
            self.loop.call_soon(self._close)

    def _close(self) -> None:
        """The end: clients, listener and log go; the host forgets this session."""
        if self.phase == DONE:
            return
        self.phase = DONE
        self.due = None
        for client in list(self.clients.values()):
            self._drop(client)
        if self.listener is not None:
            self.loop.remove(self.listener.fileno())
            self.listener.close()
            self.listener = None
        if self.log is not None:
            self.log.close()
            self.log = None
        self._end_report()
        self._close_console()
        self.loop.timed.discard(self)
        if self.on_done is not None:
            self.on_done(self)

    # -- the container's stdio ----------------------------------------------------------

    def _close_stdio(self) -> None:
        for fd in list(self.outputs):
            self._close_output(fd)
        if self.stdin_fd >= 0 and self.stdin_fd != self.master:
            self.loop.remove(self.stdin_fd)
            os.close(self.stdin_fd)
        self.stdin_fd = -1
        self.stdin_pending.clear()
        self.close_stdin_after_flush = False
        self.master = -1

    def _close_output(self, fd: int) -> None:
        self.outputs.pop(fd, None)
        self.loop.remove(fd)
        if fd == self.master:
            self.stdin_fd = -1
            self.stdin_pending.clear()
        os.close(fd)

    def _output_handler(self, fd: int) -> Callable[[int], None]:
        return lambda event: self._on_output(fd)

    def _on_output(self, fd: int) -> None:
        stream = self.outputs.get(fd)
        if stream is None:
            return
        if fd == self.master and self.stdin_pending:
            self._write_stdin()
        try:
            data = os.read(fd, READ_SIZE)
        except BlockingIOError:
            return
        except OSError as exc:
            if exc.errno != errno.EIO:  # a pty whose other side is all closed
                raise
            data = b""
        if not data:
            self._close_output(fd)
            if not self.outputs and self.phase == DRAINING:
                self._drained()
            return
        if self.log is not None:
            self.log.write(stream, data)
        number = attach.STDOUT if stream == "stdout" else attach.STDERR
        message = b""
        for client in list(self.clients.values()):
            if client.attached and (client.stdout if number == attach.STDOUT else client.stderr):
                message = message or attach.frame(number, data)
                self._send(client, message)

    # -- clients ------------------------------------------------------------------------

    def add_client(self, sock: socket.socket) -> None:
        client = _Client(sock)
        self.clients[client.fileno()] = client
        self.loop.add(client.fileno(), IN, lambda event: self._client_event(client, event))

    def _accept(self, event: int) -> None:
        assert self.listener is not None
        while True:
            try:
                sock, _ = self.listener.accept()
            except (BlockingIOError, InterruptedError):
                return
            self.add_client(sock)
            if self.phase == CLOSING:  # nothing more to come: tell it and let it go
                client = self.clients[sock.fileno()]
                client.closing = True
                self._send(client, attach.control({"exit": self.code}))

    def _client_event(self, client: _Client, event: int) -> None:
        if client.fileno() not in self.clients:
            return
        if event & OUT:
            self._flush(client)
            if client.fileno() not in self.clients:
                return
        if not event & IN:
            return
        try:
            data = client.sock.recv(READ_SIZE)
        except BlockingIOError:
            return
        except OSError:
            data = b""
        if not data:
            self._drop(client)
            return
        try:
            for stream, payload in client.reader.feed(data):
                self._client_frame(client, stream, payload)
        except ValueError:
            self._drop(client)

    def _client_frame(self, client: _Client, stream: int, payload: bytes) -> None:
        if stream == attach.STDIN:
            if client.stdin and self.stdin_fd >= 0:
                self.stdin_pending += payload
                self._write_stdin()
            return
        if stream != attach.CONTROL:
            return
        message = attach.decode_control(payload)
        wanted = message.get("attach")
        if isinstance(wanted, dict):
            client.attached = True
            client.stdin = bool(wanted.get("stdin"))
            client.stdout = bool(wanted.get("stdout", True))
            client.stderr = bool(wanted.get("stderr", True))
            if self.phase == RUNNING and client.told_started != self.init_pid:
                client.told_started = self.init_pid
                self._send(client, attach.control({"started": self.init_pid}))
        resize = message.get("resize")
        if isinstance(resize, list) and len(resize) == 2 and self.master >= 0:
            from capsa.runtime.console import set_window_size

            try:
                set_window_size(self.master, int(resize[0]), int(resize[1]))
            except (OSError, ValueError):
                pass
        if message.get("close_stdin") and client.stdin:
            self._client_stdin_done()

    def _client_stdin_done(self) -> None:
        """The attached stdin ended: with stdin_once the container's stdin closes too
        (after what is pending), as `docker run -i` does."""
        if not self.options.stdin_once or self.stdin_fd < 0 or self.stdin_fd == self.master:
            return
        self._write_stdin()
        if self.stdin_fd < 0:
            return
        if not self.stdin_pending:
            self.loop.remove(self.stdin_fd)
            os.close(self.stdin_fd)
            self.stdin_fd = -1
        else:
            self.close_stdin_after_flush = True

    def _write_stdin(self) -> None:
        if self.stdin_fd < 0:
            self.stdin_pending.clear()
            return
        try:
            while self.stdin_pending:
                written = os.write(self.stdin_fd, self.stdin_pending)
                del self.stdin_pending[:written]
        except BlockingIOError:
            pass
        except OSError:  # the container closed its stdin
            self.stdin_pending.clear()
        if self.stdin_fd == self.master:
            return  # the master is polled for input; pending input goes with the next turn
        if self.stdin_pending:
            if self.stdin_fd not in self.loop.handlers:
                self.loop.add(self.stdin_fd, OUT, lambda event: self._write_stdin())
        else:
            self.loop.remove(self.stdin_fd)
            if self.close_stdin_after_flush:
                self.close_stdin_after_flush = False
                os.close(self.stdin_fd)
                self.stdin_fd = -1

    def _send(self, client: _Client, data: bytes) -> None:
        client.pending += data
        self._flush(client)
        if len(client.pending) > CLIENT_BACKLOG:
            self._drop(client)

    def _flush(self, client: _Client) -> None:
        try:
            while client.pending:
                sent = client.sock.send(client.pending)
                del client.pending[:sent]
        except BlockingIOError:
            pass
        except OSError:
            self._drop(client)
            return
        if client.fileno() not in self.clients:
            return
        if client.pending:
            self.loop.modify(client.fileno(), IN | OUT)
        elif client.closing:
            self._drop(client)
        else:
            self.loop.modify(client.fileno(), IN)
        if self.phase == CLOSING and not any(c.pending for c in self.clients.values()):
            self.loop.call_soon(self._close)

    def _drop(self, client: _Client) -> None:
        fd = client.fileno()
        if self.clients.pop(fd, None) is None:
            return
        self.loop.remove(fd)
        client.sock.close()
        if client.stdin:
            self._client_stdin_done()

    def _broadcast(self, message: dict[str, object], *, close: bool = False) -> None:
        data = attach.control(message)
        for client in list(self.clients.values()):
            self._send(client, data)
            if close and client.fileno() in self.clients:
                client.closing = True
                self._flush(client)
