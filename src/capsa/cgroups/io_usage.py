"""Bytes a process's cgroup read from and wrote to block devices (what `docker stats`
shows as BLOCK I/O): v1 blkio.throttle.io_service_bytes(_recursive), else v2 io.stat,
summed over devices. Found from /proc/PID/cgroup, so it works for any runtime's
container and on v1, v2 and hybrid hosts."""

from __future__ import annotations

import os

CGROUP_ROOT = "/sys/fs/cgroup"
_V1_FILES = ("blkio.throttle.io_service_bytes_recursive", "blkio.throttle.io_service_bytes")


def parse_v1_service_bytes(text: str) -> tuple[int, int]:
    """`8:0 Read 4096` lines -> (read, written)."""
    read = written = 0
    for line in text.splitlines():
        fields = line.split()
        if len(fields) != 3 or not fields[2].isdigit():
            continue
        if fields[1] == "Read":
            read += int(fields[2])
        elif fields[1] == "Write":
            written += int(fields[2])
    return read, written


def parse_io_stat(text: str) -> tuple[int, int]:
    """`8:0 rbytes=4096 wbytes=0 ...` lines -> (read, written)."""
    read = written = 0
    for line in text.splitlines():
        for field in line.split()[1:]:
            key, _, value = field.partition("=")
            if key == "rbytes" and value.isdigit():
                read += int(value)
            elif key == "wbytes" and value.isdigit():
                written += int(value)
    return read, written


def _read(path: str) -> str | None:
    try:
        with open(path) as f:
            return f.read()
    except OSError:
        return None


def block_io_bytes(pid: int, cgroup_root: str = CGROUP_ROOT) -> tuple[int, int]:
    """(read, written) by pid's cgroup; (0, 0) when the host does not count it."""
    text = _read(f"/proc/{pid}/cgroup")
    if text is None:
        return 0, 0
    unified = None
    for line in text.splitlines():
        number, _, rest = line.partition(":")
        controllers, _, path = rest.partition(":")
        if number == "0" and not controllers:
            unified = path
        elif "blkio" in controllers.split(","):
            for name in _V1_FILES:
                found = _read(os.path.join(cgroup_root, "blkio", path.lstrip("/"), name))
                if found is not None:
                    return parse_v1_service_bytes(found)
    if unified is not None:
        for base in (cgroup_root, os.path.join(cgroup_root, "unified")):
            found = _read(os.path.join(base, unified.lstrip("/"), "io.stat"))
            if found is not None:
                return parse_io_stat(found)
    return 0, 0
