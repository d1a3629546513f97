"""Typed messages between the runtime and the processes it forks (intermediate, init,
exec), over a SOCK_SEQPACKET socketpair so each message arrives whole."""

from __future__ import annotations

import json
import socket
from dataclasses import dataclass
from typing import Any

from capsa.errors import ContainerError

MAX_MESSAGE = 65536


@dataclass(frozen=True)
class Message:
    kind: str
    pid: int = 0
    text: str = ""

    def encode(self) -> bytes:
        payload: dict[str, Any] = {"kind": self.kind}
        if self.pid:
            payload["pid"] = self.pid
        if self.text:
            payload["text"] = self.text
        return json.dumps(payload).encode()

    @classmethod
    def decode(cls, data: bytes) -> Message:
        payload = json.loads(data)
        return cls(kind=payload["kind"], pid=payload.get("pid", 0), text=payload.get("text", ""))


# Message kinds, child -> parent
NEED_IDMAP = "need-idmap"  # the child unshared a user namespace: write its uid/gid maps
INIT_PID = "init-pid"  # pid of the container init, as the runtime's namespace sees it
RUN_HOOKS = "run-hooks"  # mounts are ready: run prestart and createRuntime hooks now
READY = "ready"  # fully set up, about to wait on the exec fifo
EXECUTED = "executed"  # (exec) the program is about to be exec'd
ERROR = "error"  # setup failed; text says why
# parent -> child
IDMAP_DONE = "idmap-done"
HOOKS_DONE = "hooks-done"
ABORT = "abort"


def channel() -> tuple[socket.socket, socket.socket]:
    """(parent end, child end)."""
    parent, child = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    return parent, child


def send(sock: socket.socket, kind: str, *, pid: int = 0, text: str = "") -> None:
    sock.send(Message(kind, pid, text).encode())


def receive(sock: socket.socket, *expected: str) -> Message:
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
