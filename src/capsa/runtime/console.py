"""Terminals: a pty made inside the container, its master handed to the caller through
the console socket (SCM_RIGHTS), as runc does; and the client side that receives it."""

from __future__ import annotations

import _socket as socket  # the C module: `socket` imports enum
import fcntl
import os
import struct
import termios

from capsa.errors import ContainerError, InvalidArgument

# <asm-generic/ioctls.h>: the same numbers on x86_64 and aarch64; termios lacks them.
TIOCSPTLCK = 0x40045431
TIOCGPTN = 0x80045430


def connect_console_socket(path: str) -> socket.socket:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        sock.connect(path)
    except OSError as exc:
        sock.close()
        raise InvalidArgument(f"cannot connect to console socket {path}: {exc.strerror}") from None
    return sock


def open_pty_in_container() -> tuple[int, int, str]:
    """(master, slave, slave path) from the container's own /dev/ptmx."""
    try:
        master = os.open("/dev/ptmx", os.O_RDWR | os.O_NOCTTY | os.O_CLOEXEC)
    except OSError as exc:
        raise ContainerError(f"cannot open /dev/ptmx in the container: {exc.strerror}") from None
    # unlockpt, then ask for the slave's number
    fcntl.ioctl(master, TIOCSPTLCK, struct.pack("i", 0))
    number = struct.unpack("I", fcntl.ioctl(master, TIOCGPTN, b"\0\0\0\0"))[0]
    slave_path = f"/dev/pts/{number}"
    slave = os.open(slave_path, os.O_RDWR | os.O_NOCTTY)
    return master, slave, slave_path


def set_window_size(fd: int, height: int, width: int) -> None:
    fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", height, width, 0, 0))


def send_master(sock: socket.socket, master: int, name: str) -> None:
    sock.sendmsg(
        [name.encode()], [(socket.SOL_SOCKET, socket.SCM_RIGHTS, struct.pack("i", master))]
    )


def receive_master(sock: socket.socket) -> int:
    _, ancillary, _, _ = sock.recvmsg(4096, socket.CMSG_LEN(4))
    for level, kind, data in ancillary:
        if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS and len(data) >= 4:
            fd: int = struct.unpack("i", data[:4])[0]
            return fd
    raise ContainerError("the container sent no terminal over the console socket")


def become_controlling_terminal(slave: int) -> None:
    """Make the pty slave our stdio and controlling terminal (we are a session leader)."""
    fcntl.ioctl(slave, termios.TIOCSCTTY, 0)
    for target in (0, 1, 2):
        os.dup2(slave, target)
    if slave > 2:
        os.close(slave)
