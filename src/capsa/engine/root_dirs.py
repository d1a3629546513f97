"""A capsa root's directories as `capsa system reset` empties them: what marks one as
capsa's, the mounts left under it, and emptying it without ever reaching through a mount
into what it shows (a bind-mounted host directory, a volume's device)."""

from __future__ import annotations

import errno
import os
from collections.abc import Iterable

from capsa.errors import InvalidArgument
from capsa.kernel.mounts import MNT_DETACH, umount2
from capsa.store._files import remove_tree

# What capsa makes at the top of its root and of its run root (see capsa.engine.layout,
# capsa.network.networks, capsa.cli.server): a non-empty directory with none of these is
# not a capsa root, and reset refuses to empty it.
ROOT_MARKERS = ("engine", "storage", "volumes", "networks")
RUN_MARKERS = (
    "containers",
    "runtime",
    "network",
    "netns",
    "monitor.sock",
    "monitor.pid",
    "monitor.lock",
    "monitor.log",
    "cli.sock",
    "cli-server.log",
)
MOUNTINFO = "/proc/self/mountinfo"


def check_ours(path: str, markers: Iterable[str]) -> None:
    """Raise InvalidArgument unless `path` is missing, empty, or holds one of `markers`:
    `--root /home/me` by mistake must not empty a home directory."""
    try:
        entries = set(os.listdir(path))
    except FileNotFoundError:
        return
    except NotADirectoryError:
        raise InvalidArgument(f"{path} is not a directory", hint="give a capsa root") from None
    if os.path.realpath(path) == "/" or (entries and not entries & set(markers)):
        raise InvalidArgument(
            f"refusing to reset {path}: it does not look like a capsa root",
            hint=f"a capsa root holds {', '.join(sorted(markers)[:3])}…; check --root",
        )


def mounts_under(mountinfo: str, path: str) -> list[str]:
    """Mount points below `path` (not `path` itself: a root on a disk of its own stays
    mounted) in a mountinfo text, the last mounted first (the order that unmounts a mount
    before the one it is stacked on)."""
    prefix = os.path.normpath(path).rstrip("/") + "/"
    from capsa.runtime.rootfs.mountinfo import parse_mountinfo

    points = [m.mount_point for m in parse_mountinfo(mountinfo)]
    return [point for point in reversed(points) if point.startswith(prefix)]


def _read_mountinfo() -> str:
    with open(MOUNTINFO) as f:
        return f.read()


def unmount_under(path: str) -> list[str]:
    """Detach every mount below `path`; the failures, one line each."""
    failures = []
    real = os.path.realpath(path)
    for point in mounts_under(_read_mountinfo(), real):
        try:
            umount2(point, MNT_DETACH)
        except OSError as error:
            if error.errno not in (errno.EINVAL, errno.ENOENT):  # gone with its parent
                failures.append(f"cannot unmount {point}: {os.strerror(error.errno or 0)}")
    return failures


def empty(path: str) -> list[str]:
    """Remove everything in `path` but the directory itself; an entry with a mount still
    at or below it is left, and reported; the failures, one line each."""
    try:
        names = sorted(os.listdir(path))
    except FileNotFoundError:
        return []
    except OSError as error:
        return [f"cannot read {path}: {os.strerror(error.errno or 0)}"]
    mounted = mounts_under(_read_mountinfo(), os.path.realpath(path))
    failures = []
    for name in names:
        entry = os.path.join(os.path.realpath(path), name)
        held = [m for m in mounted if m == entry or m.startswith(entry + "/")]
        if held:
            failures.append(f"left {entry}: {held[0]} is still mounted")
            continue
        try:
            remove_tree(entry)
        except OSError as error:
            failures.append(f"cannot remove {entry}: {os.strerror(error.errno or 0)}")
    return failures
