"""The monitor's event loop: one process per container that holds its stdio, writes its
log, serves attach clients, reaps it (as child subreaper) and, through the caller's
hooks, records its exit and decides on a restart.

Single-threaded, one poll() over: the container's output (pipes, or a pty master), the
attach listener and clients, and a self-pipe woken by SIGCHLD. Writes to clients and to
the container's stdin never block the loop: what cannot be written waits in a buffer,
and a client that falls too far behind is dropped rather than stalling the container.
"""

from __future__ import annotations

import errno
import os
import select
import signal
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from capsa.errors import CapsaError
from capsa.monitor import attach
from capsa.monitor.logfile import JsonFileWriter

READ_SIZE = 1 << 16
CLIENT_BACKLOG = 8 << 20  # bytes a slow attach client may fall behind before it is dropped
DRAIN_AFTER_EXIT = 2.0  # seconds to wait for output still in flight after the init exits
RESTART_POLL = 0.2  # seconds between looks at whether a pending restart was called off
_IN = select.POLLIN | select.POLLHUP | select.POLLERR
_OUT = select.POLLOUT


class Hooks(Protocol):
    def create(self, console_socket: str | None) -> int:
        """Create the container with fds 0-2 as its stdio; returns the init's pid."""
        ...

    def start(self) -> None: ...

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

    def on_timer(self) -> None: ...

    def child_exited(self, pid: int, status: int) -> None:
        """A process other than the init was reaped (a health check, an orphan)."""
        ...


@dataclass
class MonitorOptions:
    run_dir: str  # attach.sock and console.sock live here
    tty: bool = False
    stdin_open: bool = False
    stdin_once: bool = False
    log_path: str = ""  # "" with log driver none
    log_max_size: int = 0
    log_max_files: int = 1


def exit_code(status: int) -> int:
    if os.WIFSIGNALED(status):
        return 128 + os.WTERMSIG(status)
    return os.WEXITSTATUS(status)


class _Client:
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


class Supervisor:
    def __init__(self, options: MonitorOptions, hooks: Hooks) -> None:
        self.options = options
        self.hooks = hooks
        self.clients: dict[int, _Client] = {}
        self.outputs: dict[int, str] = {}  # fd -> "stdout" | "stderr"
        self.stdin_fd = -1
        self.stdin_pending = bytearray()
        self.master = -1
        self.init_pid = 0
        self.init_status: int | None = None
        self.log: JsonFileWriter | None = None
        self.poller = select.poll()
        self.wake_r, self.wake_w = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
        self.listener: socket.socket | None = None
        self.close_stdin_after_flush = False

    # -- setup ------------------------------------------------------------------------

    def _prepare(self) -> None:
        signal.signal(signal.SIGCHLD, lambda signum, frame: None)
        for ignored in (signal.SIGPIPE, signal.SIGHUP, signal.SIGINT, signal.SIGTERM):
            signal.signal(ignored, signal.SIG_IGN)
        signal.set_wakeup_fd(self.wake_w, warn_on_full_buffer=False)
        self.poller.register(self.wake_r, _IN)
        self.listener = attach.listen(os.path.join(self.options.run_dir, "attach.sock"))
        self.listener.setblocking(False)
        self.poller.register(self.listener.fileno(), _IN)
        if self.options.log_path:
            self.log = JsonFileWriter(
                self.options.log_path, self.options.log_max_size, self.options.log_max_files
            )

    def add_client(self, sock: socket.socket) -> None:
        client = _Client(sock)
        self.clients[client.fileno()] = client
        self.poller.register(client.fileno(), _IN)

    # -- the container's stdio ----------------------------------------------------------

    def _spawn(self) -> int:
        """Create the container with our pipes (or a terminal) as its stdio."""
        self.init_status = None
        if self.options.tty:
            return self._spawn_with_terminal()
        theirs: list[int] = []
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
            self.outputs[read_end] = name
            self.poller.register(read_end, _IN)
            theirs.append(write_end)
        try:
            return self._create_with_stdio(theirs, None)
        finally:
            for fd in theirs:
                os.close(fd)

    def _spawn_with_terminal(self) -> int:
        directory = os.open(self.options.run_dir, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
        path = os.path.join(self.options.run_dir, "console.sock")
        server = attach.listen(path, backlog=1)
        null = os.open(os.devnull, os.O_RDWR | os.O_CLOEXEC)
        try:
            # The runtime (ours, or a runc in another process) connects through our fd.
            short = f"/proc/{os.getpid()}/fd/{directory}/console.sock"
            pid = self._create_with_stdio([null, null, null], short)
            server.settimeout(10)
            connection, _ = server.accept()
            with connection:
                from capsa.runtime.console import receive_master

                self.master = receive_master(connection)
        finally:
            server.close()
            os.close(null)
            os.close(directory)
            try:
                os.unlink(path)
            except FileNotFoundError:
                pass
        os.set_blocking(self.master, False)
        self.outputs[self.master] = "stdout"
        self.poller.register(self.master, _IN)
        self.stdin_fd = self.master
        return pid

    def _create_with_stdio(self, fds: list[int], console_socket: str | None) -> int:
        saved = [os.dup(n) for n in (0, 1, 2)]
        try:
            for target, fd in enumerate(fds):
                os.dup2(fd, target)  # inheritable: the container gets them
            return self.hooks.create(console_socket)
        finally:
            for target, fd in enumerate(saved):
                os.dup2(fd, target)
                os.close(fd)

    def _close_stdio(self) -> None:
        for fd in list(self.outputs):
            self._close_output(fd)
        if self.stdin_fd >= 0 and self.stdin_fd != self.master:
            os.close(self.stdin_fd)
        self.stdin_fd = -1
        self.stdin_pending.clear()
        self.master = -1

    def _close_output(self, fd: int) -> None:
        self.outputs.pop(fd, None)
        try:
            self.poller.unregister(fd)
        except KeyError:
            pass
        if fd == self.master:
            self.stdin_fd = -1
            self.stdin_pending.clear()
        os.close(fd)

    # -- the loop -----------------------------------------------------------------------

    def run(self) -> int:
        """Supervise until no restart is wanted; returns the last exit code."""
        self._prepare()
        code = 0
        while True:
            try:
                self.init_pid = self._spawn()
                self.hooks.start()
            except (CapsaError, OSError) as exc:
                self._close_stdio()
                self._broadcast({"error": str(exc)})
                self._reap_init_if_any()
                code = 125
                self._flush_clients(1.0)
                self.hooks.finished(code)
                return code
            self._broadcast({"started": self.init_pid})
            for client in self.clients.values():
                client.told_started = self.init_pid
            status = self._serve_until_exit()
            code = exit_code(status)
            if self.log is not None:
                self.log.flush()
            delay = self.hooks.exited(status)
            if delay is None:
                break
            self._broadcast({"exit": code}, close=True)
            if not self._wait_to_restart(delay):
                break
        self.hooks.finished(code)
        self._broadcast({"exit": code}, close=True)
        self._flush_clients(2.0)
        if self.log is not None:
            self.log.close()
        return code

    def _reap_init_if_any(self) -> None:
        self._reap()

    def _serve_until_exit(self) -> int:
        deadline: float | None = None
        while True:
            if self.init_status is not None:
                if deadline is None:
                    deadline = time.monotonic() + DRAIN_AFTER_EXIT
                if not self.outputs or time.monotonic() >= deadline:
                    self._close_stdio()
                    return self.init_status
            self._poll_once(deadline)

    def _wait_to_restart(self, seconds: float) -> bool:
        """Serve clients through the back-off; False if the restart was called off."""
        until = time.monotonic() + seconds
        while True:
            if self.hooks.restart_cancelled():
                return False
            now = time.monotonic()
            if now >= until:
                return True
            self._poll_once(min(until, now + RESTART_POLL))

    def _poll_once(self, deadline: float | None) -> None:
        timeout = None
        timer = self.hooks.next_timer()
        soonest = min((t for t in (deadline, timer) if t is not None), default=None)
        if soonest is not None:
            timeout = max(0, int((soonest - time.monotonic()) * 1000) + 1)
        try:
            events = self.poller.poll(timeout)
        except InterruptedError:
            events = []
        for fd, event in events:
            if fd == self.wake_r:
                self._drain_wake()
            elif self.listener is not None and fd == self.listener.fileno():
                self._accept()
            elif fd in self.outputs:
                self._read_output(fd)
            elif fd in self.clients:
                self._client_event(self.clients[fd], event)
            elif fd == self.stdin_fd:
                self._write_stdin()
        self._reap()
        if timer is not None and time.monotonic() >= timer:
            self.hooks.on_timer()

    def _drain_wake(self) -> None:
        try:
            while os.read(self.wake_r, 512):
                pass
        except BlockingIOError:
            pass

    def _reap(self) -> None:
        while True:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            if pid == self.init_pid and self.init_status is None:
                self.init_status = status
            else:
                self.hooks.child_exited(pid, status)

    # -- output -------------------------------------------------------------------------

    def _read_output(self, fd: int) -> None:
        stream = self.outputs[fd]
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
            return
        if self.log is not None:
            self.log.write(stream, data)
        number = attach.STDOUT if stream == "stdout" else attach.STDERR
        message = attach.frame(number, data)
        for client in list(self.clients.values()):
            if client.attached and (client.stdout if number == attach.STDOUT else client.stderr):
                self._send(client, message)

    # -- clients ------------------------------------------------------------------------

    def _accept(self) -> None:
        assert self.listener is not None
        while True:
            try:
                sock, _ = self.listener.accept()
            except BlockingIOError:
                return
            self.add_client(sock)

    def _client_event(self, client: _Client, event: int) -> None:
        if event & _OUT:
            self._flush(client)
        if not event & _IN:
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
            if self.init_pid and self.init_status is None and client.told_started != self.init_pid:
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
        if not self.stdin_pending:
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
            return  # the master is already polled for input
        try:
            if self.stdin_pending:
                self.poller.register(self.stdin_fd, _OUT)
            else:
                self.poller.unregister(self.stdin_fd)
        except KeyError:
            pass
        if not self.stdin_pending and self.close_stdin_after_flush:
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
            self.poller.modify(client.fileno(), _IN | _OUT)
        elif client.closing:
            self._drop(client)
        else:
            self.poller.modify(client.fileno(), _IN)

    def _drop(self, client: _Client) -> None:
        fd = client.fileno()
        if self.clients.pop(fd, None) is None:
            return
        try:
            self.poller.unregister(fd)
        except KeyError:
            pass
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

    def _flush_clients(self, seconds: float) -> None:
        """Give clients a moment to take the last frames, then close them."""
        until = time.monotonic() + seconds
        while any(c.pending for c in self.clients.values()) and time.monotonic() < until:
            self._poll_once(until)
        for client in list(self.clients.values()):
            self._drop(client)


def run_monitor(
    options: MonitorOptions,
    hooks: Hooks,
    first_client: socket.socket | None = None,
    on_ready: Callable[[Supervisor], None] | None = None,
) -> int:
    """Run a supervisor; `first_client` (the connection that asked for this monitor)
    is attached from the start, so it misses no output."""
    supervisor = Supervisor(options, hooks)
    if first_client is not None:
        supervisor.add_client(first_client)
    if on_ready is not None:
        on_ready(supervisor)
    return supervisor.run()
