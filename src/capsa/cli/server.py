"""The command server: one process per run root that has already imported what `capsa
build` needs and runs each such command in a forked child, with the caller's stdio,
working directory and environment (a zygote, as the monitor spawner is for monitors).

Why: a fully cached build is little more than its imports (~60 ms of the ~80), and a
fork of a process that has them costs ~2 ms. The `capsa` command connects
(capsa.cli.remote), passes its argv, cwd, environment and fds 0-2 (SCM_RIGHTS), forwards
the signals it gets to the child and exits with the child's code. Nothing of a command
runs in the server itself.

The server is started on demand (double-forked, its own session), listens on
`<run>/cli.sock` (mode 0600; only callers of its own uid, in its own namespaces and root,
are served: any other runs its command itself), and exits after
IDLE_EXIT seconds without a request, when its socket goes (its root removed), or as soon
as one of the modules it imported has changed on disk (an upgraded capsa must not be
served by the old code: the caller then runs the command itself).

Protocol, on one connection: the caller sends one JSON line `{"argv": [...], "cwd": ...,
"env": {...}}` with its three fds attached; the child answers `{"pid": N}` once it runs,
and `{"exit": CODE}` when the command is done; `{"stale": true}` instead of `pid` says
"run it yourself". A child whose caller hangs up gets SIGINT (the command's own Ctrl-C
handling undoes its partial work), or, when the request says `"hangup": "detach"`
(`capsa run`), just ends: what it started goes on without it.
"""

from __future__ import annotations

import _thread
import array
import contextlib
import json
import os
import select
import signal
import socket
import struct
import sys
import time

IDLE_EXIT = 300.0
MAX_REQUEST = 1 << 20
SOCKET_NAME = "cli.sock"
SPARE_PAUSE = 10.0

# What the commands served here import: loaded once, shared by every child.
PRELOAD = (
    "capsa.cli.main",
    "capsa.cli.remote",
    "capsa.cli.container_cmds",
    "capsa.engine.etcfiles",
    "capsa.cli._runflags",
    "capsa.cli._attach",
    "capsa.engine.spawner",
    "capsa.cli.build",
    "capsa.build.builder",
    "capsa.build.cache",
    "capsa.build.container",
    "capsa.build.copying",
    "capsa.build.mounts",
    "capsa.cli._images",
    "capsa.store.store",
    "capsa.store.commit",
    "capsa.transport.store.find",
    "capsa.transport.store.dest",
    "capsa.engine.ociconfig",
    "capsa.engine.security",
    "capsa.engine.users",
    "capsa.runtime.run",
)


def receive_request(connection: socket.socket) -> tuple[dict[str, object], list[int]]:
    """The caller's request line and the fds that came with it."""
    fds = array.array("i")
    data = b""
    while not data.endswith(b"\n"):
        chunk, ancillary, _, _ = connection.recvmsg(65536, socket.CMSG_SPACE(3 * fds.itemsize))
        for level, kind, payload in ancillary:
            if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
                fds.frombytes(payload[: len(payload) - len(payload) % fds.itemsize])
        if not chunk:
            break
        data += chunk
        if len(data) > MAX_REQUEST:
            break
    request = json.loads(data) if data.endswith(b"\n") else {}
    return request, list(fds)


def _module_stamps() -> dict[str, tuple[int, int]]:
    stamps = {}
    for module in list(sys.modules.values()):
        path = getattr(module, "__file__", None)
        if path and getattr(module, "__name__", "").startswith("capsa"):
            try:
                st = os.stat(path)
            except OSError:
                continue
            stamps[path] = (st.st_mtime_ns, st.st_size)
    return stamps


def _stale(stamps: dict[str, tuple[int, int]]) -> bool:
    for path, stamp in stamps.items():
        try:
            st = os.stat(path)
        except OSError:
            return True
        if (st.st_mtime_ns, st.st_size) != stamp:
            return True
    return False


def _send(connection: socket.socket, message: dict[str, object]) -> None:
    try:
        connection.sendall(json.dumps(message).encode() + b"\n")
    except OSError:
        pass


def _run_child(connection: socket.socket, request: dict[str, object], fds: list[int]) -> None:
    """In the forked child: become the caller's command; never returns."""
    code = 125
    try:
        signal.set_wakeup_fd(-1)  # the server's
        for target, fd in enumerate(fds[:3]):
            os.dup2(fd, target)
        for fd in fds:
            if fd > 2:
                os.close(fd)
        os.chdir(str(request["cwd"]))
        umask = request.get("umask")
        if isinstance(umask, int):
            os.umask(umask)
        env = request.get("env")
        if isinstance(env, dict):
            os.environ.clear()
            os.environ.update({str(k): str(v) for k, v in env.items()})
        for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):  # SIGPIPE stays
            signal.signal(signum, signal.SIG_DFL)  # ignored, as in any Python program
        signal.signal(signal.SIGINT, signal.default_int_handler)
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
        _send(connection, {"pid": os.getpid()})
        _watch_caller(connection, detach=request.get("hangup") == "detach")
        sys.stdout = open(1, "w", closefd=False)  # noqa: SIM115 - the process's own stdio
        sys.stderr = open(2, "w", closefd=False)  # noqa: SIM115
        sys.stdin = open(0, closefd=False)  # noqa: SIM115
        os.environ["CAPSA_NO_SERVER"] = "1"  # the command runs here, not again remotely
        from capsa.cli.main import main

        argv = request.get("argv")
        code = main([str(a) for a in argv] if isinstance(argv, list) else [])
    except KeyboardInterrupt:
        code = 130
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 1
    except BaseException as exc:
        try:
            os.write(2, f"capsa: {exc}\n".encode())
        except OSError:
            pass
    # Done: the caller, told next, hangs up, which must not interrupt us any more.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    except (OSError, ValueError):
        pass
    _send(connection, {"exit": code})
    os._exit(code)


def _watch_caller(connection: socket.socket, *, detach: bool) -> None:
    """A caller that goes away (killed) interrupts its command, as Ctrl-C would; or, for a
    command that only attaches to what goes on without it (`run`), ends it quietly, as the
    death of a docker CLI leaves its container running."""

    def watch() -> None:
        poller = select.poll()
        poller.register(connection.fileno(), select.POLLRDHUP | select.POLLHUP)
        while True:
            try:
                events = poller.poll()
            except InterruptedError:
                continue
            if events:
                if detach:
                    os._exit(1)
                os.kill(os.getpid(), signal.SIGINT)
                return

    # A bare thread: threading's start() would wait until this one ran (~0.5 ms), and
    # the command ends with os._exit whatever the thread does.
    _thread.start_new_thread(watch, ())


def _warm() -> None:
    """Make once what every `capsa run` in a child would make again: its flag parser, and
    the patterns argparse compiles while parsing (re's cache, inherited by the fork)."""
    from capsa.cli._runflags import run_parser

    parser = run_parser("run", "Create and start a container from an image")
    run_parser("create", "Create a container from an image, not started")
    with contextlib.suppress(SystemExit):  # a flag renamed must not keep the server down
        parser.parse_args(["--rm", "-it", "--network", "none", "-e", "A=1", "-v", "/a:/b", "x"])


def serve(run_dir: str) -> int:
    import gc
    import importlib

    for name in PRELOAD:
        importlib.import_module(name)
    _warm()
    stamps = _module_stamps()
    os.makedirs(run_dir, mode=0o700, exist_ok=True)
    path = os.path.join(run_dir, SOCKET_NAME)
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM | socket.SOCK_CLOEXEC)
    tmp = f"{path}.{os.getpid()}"
    listener.bind(tmp)
    os.chmod(tmp, 0o600)
    listener.listen(64)
    os.rename(tmp, path)  # atomically replaces a dead server's socket
    inode = os.stat(path).st_ino
    signal.signal(signal.SIGCHLD, lambda signum, frame: None)
    # A command's end wakes us: the spare for the next one is forked at once.
    wake, woken = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
    signal.set_wakeup_fd(woken)
    signal.signal(signal.SIGPIPE, signal.SIG_IGN)
    signal.signal(signal.SIGHUP, signal.SIG_IGN)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    gc.freeze()
    last = time.monotonic()
    children: dict[int, socket.socket] = {}  # pid -> its caller, told if it is killed
    spare: _Spare | None = None
    spares_from = 0.0  # a spare that dies unasked stops them for a while
    while True:
        _reap(children)
        if spare is None and not children and time.monotonic() >= spares_from:
            spare = _fork_spare(listener, stamps)  # between commands, not beside one
        watched = (spare.channel if spare else listener).fileno()
        ready, _, _ = select.select([watched, wake], [], [], 1.0)
        if wake in ready:
            with contextlib.suppress(BlockingIOError):
                os.read(wake, 512)
        if watched not in ready:
            if time.monotonic() - last > IDLE_EXIT or not _still_ours(path, inode):
                break
            continue
        last = time.monotonic()
        if spare is not None:
            outcome, caller = spare.outcome()
            if caller is not None:
                _track(children, spare.pid, caller)
            elif not outcome:
                spares_from = time.monotonic() + SPARE_PAUSE
            spare = None
            if outcome == "stale":
                break
            continue
        try:
            connection, _ = listener.accept()
        except (BlockingIOError, InterruptedError):
            continue
        with connection:
            request, fds, refusal = _take_request(connection, stamps)
            if refusal:
                if refusal == "stale":
                    break
                continue
            pid = os.fork()
            if pid == 0:  # pragma: no cover - the command
                listener.close()
                for caller in children.values():
                    caller.close()
                _run_child(connection, request, fds)
            children[pid] = connection.dup()
            for fd in fds:
                os.close(fd)
    if spare is not None:
        spare.channel.close()  # it dies with us (its parent-death signal)
    # Leave: a caller that connects after this starts a new server.
    try:
        if os.stat(path).st_ino == inode:  # not a newer server's
            os.unlink(path)
    except OSError:
        pass
    listener.close()
    return 0


NAMESPACES = ("net", "mnt", "pid", "user", "uts", "ipc", "cgroup")


def _take_request(
    connection: socket.socket, stamps: dict[str, tuple[int, int]]
) -> tuple[dict[str, object], list[int], str]:
    """The request and its fds; or a refusal ("stale": our code changed on disk, or
    "refused": not a caller we serve), told to the caller already."""
    credentials = connection.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, 12)
    peer, uid, _ = struct.unpack("3i", credentials)
    request, fds = receive_request(connection)
    usable = uid == os.getuid() and bool(request) and len(fds) == 3 and same_world(peer)
    stale = _stale(stamps)  # checked once a request: ~100 stats
    if usable and not stale:
        return request, fds, ""
    for fd in fds:
        os.close(fd)
    _send(connection, {"stale": True})
    return {}, [], "stale" if stale else "refused"


class _Spare:
    """A child forked ahead of the next command: it waits in accept() on our listener,
    takes one caller and becomes its command. The fork and the copying of the pages a
    command writes (~2 ms of a `capsa run`) are then done before the request, not after.
    It tells us on `channel` what came of it: "taken" with the caller's connection (we
    keep it to report a killed command), "stale" or "refused"."""

    def __init__(self, pid: int, channel: socket.socket) -> None:
        self.pid = pid
        self.channel = channel

    def outcome(self) -> tuple[str, socket.socket | None]:
        """What it says; ("", None) when it died without saying."""
        try:
            data, ancillary, _, _ = self.channel.recvmsg(64, socket.CMSG_SPACE(4))
        except OSError:
            data, ancillary = b"", []
        finally:
            self.channel.close()
        caller = None
        for level, kind, payload in ancillary:
            if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS and len(payload) >= 4:
                caller = socket.socket(fileno=int.from_bytes(payload[:4], sys.byteorder))
        return data.decode(errors="replace"), caller


def _fork_spare(listener: socket.socket, stamps: dict[str, tuple[int, int]]) -> _Spare:
    ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    parent = os.getpid()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the spare
        ours.close()
        _spare_main(listener, theirs, stamps, parent)
    theirs.close()
    return _Spare(pid, ours)


def _spare_main(
    listener: socket.socket,
    channel: socket.socket,
    stamps: dict[str, tuple[int, int]],
    parent: int,
) -> None:
    """Never returns. Killed with the server until it has a caller: a spare left behind
    would take callers on a listener nobody else serves."""
    from capsa.kernel.process import set_parent_death_signal

    try:
        set_parent_death_signal(signal.SIGKILL)
        if os.getppid() != parent:
            os._exit(0)
        _warm()  # the pages a parse writes are copied now, not during the command
        while True:
            try:
                connection, _ = listener.accept()
                break
            except InterruptedError:
                continue
        set_parent_death_signal(0)  # a command runs to its end
        listener.close()
        request, fds, refusal = _take_request(connection, stamps)
        if refusal:
            channel.send(refusal.encode())
            os._exit(0)
        taken = connection.fileno().to_bytes(4, sys.byteorder)
        channel.sendmsg([b"taken"], [(socket.SOL_SOCKET, socket.SCM_RIGHTS, taken)])
        channel.close()
    except BaseException:  # never raise out of a forked child
        os._exit(1)
    _run_child(connection, request, fds)


def same_world(pid: int) -> bool:
    """Whether process `pid` sees the system as this server does: the same namespaces
    and root. A command run here for a caller in another network namespace, say, would
    build and mount in the wrong one: such a caller runs its command itself."""
    try:
        for kind in NAMESPACES:
            if os.stat(f"/proc/{pid}/ns/{kind}").st_ino != os.stat(f"/proc/self/ns/{kind}").st_ino:
                return False
        theirs, ours = os.stat(f"/proc/{pid}/root"), os.stat("/proc/self/root")
    except OSError:
        return False
    return (theirs.st_dev, theirs.st_ino) == (ours.st_dev, ours.st_ino)


def _still_ours(path: str, inode: int) -> bool:
    """False once the socket is gone (its root removed) or another server's."""
    try:
        return os.stat(path).st_ino == inode
    except OSError:
        return False


def _track(children: dict[int, socket.socket], pid: int, caller: socket.socket) -> None:
    """Keep a spare's caller until its command ends; one that has ended already (reaped
    before it said it was taken) said its own exit."""
    try:
        ended, status = os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        caller.close()
        return
    if ended:
        _command_ended(caller, status)
    else:
        children[pid] = caller


def _reap(children: dict[int, socket.socket]) -> None:
    """Reap finished commands; the caller of one killed by a signal gets 128 + its
    number as the exit code, as a shell would say (one that ended has said its own)."""
    while True:
        try:
            pid, status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return
        caller = children.pop(pid, None)
        if caller is not None:
            _command_ended(caller, status)


def _command_ended(caller: socket.socket, status: int) -> None:
    if os.WIFSIGNALED(status):
        _send(caller, {"exit": 128 + os.WTERMSIG(status)})
    caller.close()


def stop(run_dir: str, timeout: float = 5.0) -> None:
    """End the server of this run root (`capsa system reset`): its socket goes, which it
    notices within a second (see serve), and its process is waited for; one that lingers
    past `timeout` gets SIGTERM. The commands it is running go on. Nothing when no server
    listens; OSError when it would not end."""
    path = os.path.join(run_dir, SOCKET_NAME)
    client = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM | socket.SOCK_CLOEXEC)
    try:
        client.settimeout(timeout)
        try:
            client.connect(path)
        except (FileNotFoundError, ConnectionRefusedError):
            return  # none, or a dead server's socket
        # A listener's credentials are the server's own: the process that called listen().
        credentials = client.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, 12)
        pid = struct.unpack("3i", credentials)[0]
        inode = os.stat(path).st_ino
    finally:
        client.close()
    try:
        if os.stat(path).st_ino == inode:  # not a newer server's
            os.unlink(path)
    except FileNotFoundError:
        pass
    from capsa.runtime.procinfo import wait_gone

    if pid <= 0 or wait_gone(pid, timeout):
        return
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    if not wait_gone(pid, timeout):
        raise OSError(f"the command server (pid {pid}) did not exit")


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        sys.stderr.write("usage: python -m capsa.cli.server RUN_DIR\n")
        return 2
    return serve(argv[0])


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
