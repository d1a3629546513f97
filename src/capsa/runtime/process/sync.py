"""Typed messages between the runtime and the processes it forks (intermediate, init,
exec), over a SOCK_SEQPACKET socketpair so each message arrives whole.

Uses `_socket` rather than `socket`: the wrapper module pulls in enum, and this is on
the path of every container start."""

from __future__ import annotations

import _socket

from capsa.errors import ContainerError
from capsa.fastjson import dumps, loads

MAX_MESSAGE = 65536

# Message kinds, child -> parent
NEED_IDMAP = "need-idmap"  # the child unshared a user namespace: write its uid/gid maps
INIT_PID = "init-pid"  # pid of the container init, as the runtime's namespace sees it
RUN_HOOKS = "run-hooks"  # mounts are ready: run prestart and createRuntime hooks now
READY = "ready"  # fully set up, about to wait on the exec fifo (or to exec)
ERROR = "error"  # setup failed; text says why
# parent -> child
IDMAP_DONE = "idmap-done"
HOOKS_DONE = "hooks-done"
CGROUPS_READY = "cgroups-ready"  # the v1 cgroups the init was cloned ahead of exist


class Message:
    __slots__ = ("kind", "pid", "text")

    def __init__(self, kind: str, pid: int = 0, text: str = "") -> None:
        self.kind = kind
        self.pid = pid
        self.text = text

    def __repr__(self) -> str:
        return f"Message({self.kind!r}, pid={self.pid}, text={self.text!r})"

    def encode(self) -> bytes:
        payload: dict[str, object] = {"kind": self.kind}
        if self.pid:
            payload["pid"] = self.pid
        if self.text:
            payload["text"] = self.text
        return dumps(payload).encode()

    @classmethod
    def decode(cls, data: bytes) -> Message:
        payload = loads(data)
        if not isinstance(payload, dict) or not isinstance(payload.get("kind"), str):
            raise ContainerError("malformed message from a container process")
        return cls(payload["kind"], int(payload.get("pid", 0)), str(payload.get("text", "")))


def channel() -> tuple[_socket.socket, _socket.socket]:
    """(parent end, child end); both close on exec."""
    parent, child = _socket.socketpair(_socket.AF_UNIX, _socket.SOCK_SEQPACKET)
    return parent, child


def send(sock: _socket.socket, kind: str, *, pid: int = 0, text: str = "") -> None:
    sock.send(Message(kind, pid, text).encode())


def receive(sock: _socket.socket, *expected: str) -> Message:
    """Next message; a child's ERROR becomes ContainerError, an early EOF too."""
    data = sock.recv(MAX_MESSAGE)
    if not data:
        raise ContainerError("the container process exited during setup")
    message = Message.decode(data)
    if message.kind == ERROR:
        raise ContainerError(message.text)
    if expected and message.kind not in expected:
        raise ContainerError(
            f"unexpected message {message.kind!r} from the container process "
            f"(expected {' or '.join(expected)})"
        )
    return message
