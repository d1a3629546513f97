"""Network namespaces: persistent named ones bind-mounted under the run root (as Podman
and `ip netns` make them), and entering one for the calling thread only.

A network namespace belongs to a thread, not a process: `entered(path)` moves the
calling thread in and back out, so sockets, netlink and nftables contexts made inside
belong to that namespace while the rest of the process stays where it is. Children
spawned inside inherit it (that is how the DNS server lands in the host namespace a
caller names).
"""

from __future__ import annotations

import contextlib
import errno
import os
import secrets
import threading
from collections.abc import Iterator
from pathlib import Path

from capsa.config import Config
from capsa.errors import AlreadyExists, CapsaError, InvalidArgument, NotFound
from capsa.kernel.mounts import MNT_DETACH, MS_BIND, MS_REC, MS_SHARED, mount, umount2
from capsa.kernel.namespaces import CLONE_NEWNET, setns, unshare

THREAD_NETNS = "/proc/thread-self/ns/net"


def netns_dir(config: Config) -> Path:
    return config.run_root / "netns"


@contextlib.contextmanager
def entered(path: str | os.PathLike[str] | None) -> Iterator[None]:
    """Run the body with the calling thread in the network namespace at `path` (None:
    stay where it is)."""
    if path is None:
        yield
        return
    try:
        target = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except FileNotFoundError:
        raise NotFound(f"network namespace {os.fspath(path)} does not exist") from None
    try:
        own = os.open(THREAD_NETNS, os.O_RDONLY | os.O_CLOEXEC)
        try:
            try:
                setns(target, CLONE_NEWNET)
            except OSError as error:
                if error.errno == errno.EINVAL:
                    raise InvalidArgument(f"{os.fspath(path)} is not a network namespace") from None
                raise
            try:
                yield
            finally:
                # Failing to come back would leave this thread in the wrong namespace
                # for everything it does next: let that error through unchanged.
                setns(own, CLONE_NEWNET)
        finally:
            os.close(own)
    finally:
        os.close(target)


def _ensure_shared_dir(directory: Path) -> None:
    """Make the directory a shared mount (as iproute2 does for /run/netns), so that a
    namespace unmounted here is unmounted in every mount namespace that copied it and is
    really freed."""
    directory.mkdir(parents=True, exist_ok=True, mode=0o755)
    try:
        mount("none", str(directory), None, MS_SHARED | MS_REC, None)
    except OSError as error:
        if error.errno != errno.EINVAL:  # EINVAL: not a mount point yet
            raise
        mount(str(directory), str(directory), None, MS_BIND | MS_REC, None)
        mount("none", str(directory), None, MS_SHARED | MS_REC, None)


def create_netns(config: Config, name: str | None = None) -> Path:
    """A new network namespace, kept alive by a bind mount at
    `<run_root>/netns/<name>` until `remove_netns`. Its path goes in the OCI config as
    `linux.namespaces: [{"type": "network", "path": ...}]`."""
    name = name or f"capsa-{secrets.token_hex(8)}"
    if "/" in name or name in (".", ".."):
        raise InvalidArgument(f"invalid network namespace name {name!r}")
    directory = netns_dir(config)
    _ensure_shared_dir(directory)
    path = directory / name
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CREAT | os.O_EXCL, 0o444)
    except FileExistsError:
        raise AlreadyExists(f"network namespace {path} already exists") from None
    os.close(fd)
    failure: list[BaseException] = []

    def make() -> None:
        # A thread of its own: it leaves for the new namespace and ends there, so the
        # caller's thread never moves.
        try:
            unshare(CLONE_NEWNET)
            mount(THREAD_NETNS, str(path), None, MS_BIND, None)
        except BaseException as error:
            failure.append(error)

    worker = threading.Thread(target=make, name="capsa-netns")
    worker.start()
    worker.join()
    if failure:
        with contextlib.suppress(OSError):
            path.unlink()
        error = failure[0]
        if isinstance(error, CapsaError):
            raise error
        raise CapsaError(f"cannot create network namespace {path}: {error}") from error
    return path


def remove_netns(path: str | os.PathLike[str]) -> None:
    """Unmount and remove a namespace made by `create_netns`; nothing if it is gone."""
    target = os.fspath(path)
    try:
        umount2(target, MNT_DETACH)
    except OSError as error:
        if error.errno not in (errno.EINVAL, errno.ENOENT):
            raise
    with contextlib.suppress(FileNotFoundError):
        os.unlink(target)


def remove_netns_dir(config: Config) -> None:
    """Remove every namespace under the run root and the shared mount of the directory
    itself (for `capsa system reset`)."""
    directory = netns_dir(config)
    if not directory.is_dir():
        return
    for entry in directory.iterdir():
        remove_netns(entry)
    try:
        umount2(str(directory), MNT_DETACH)  # the bind mount _ensure_shared_dir made
    except OSError as error:
        if error.errno not in (errno.EINVAL, errno.ENOENT):
            raise
    with contextlib.suppress(OSError):
        directory.rmdir()
