"""`capsa diff`: what a container changed in its file system, as Docker lists it: `A`
added, `C` changed, `D` deleted, one path a line, sorted by path; the directories that
hold a change count as changed themselves.

On overlay the upper directory *is* the change: a whiteout (char device 0:0) is a
deletion, an opaque directory a change, anything else a change when the image's layers
have that path and an addition when they do not. On vfs the container's tree is
compared with the image's (the same rules as `capsa.store.diff.diff_dirs`).
"""

from __future__ import annotations

import os
import secrets
import stat
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from capsa.engine import rootfs
from capsa.store.fsops import FsOps, RealFsOps, Stat

if TYPE_CHECKING:
    from capsa.engine.engine import Engine

ADDED = "A"
CHANGED = "C"
DELETED = "D"
KIND_NUMBER = {CHANGED: 0, ADDED: 1, DELETED: 2}  # Docker's API `Kind`

_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_OPAQUE = (b"trusted.overlay.opaque", b"user.overlay.opaque")


@dataclass(frozen=True, order=True)
class Change:
    path: str  # absolute, in the container
    kind: str  # A, C or D

    def line(self) -> str:
        return f"{self.kind} {self.path}"


@dataclass(frozen=True)
class UpperEntry:
    """One entry of an overlay upper directory."""

    path: str
    whiteout: bool = False
    opaque: bool = False  # a directory that hides what the layers below hold there
    empty: bool = False  # an empty file or a directory: what a mount point looks like
    directory: bool = False
    owner_mode: tuple[int, int, int] = (0, 0, 0)  # uid, gid, mode


# What the engine itself puts in every container's root to mount over (Docker keeps
# these in its init layer, which `docker diff` does not show): not the user's changes
# while they are still the empty mount points.
ENGINE_MOUNT_POINTS = frozenset(
    {"/etc/hostname", "/etc/hosts", "/etc/resolv.conf", "/proc", "/sys", "/dev"}
)


def classify(
    entries: Iterable[UpperEntry],
    lower_stat: Callable[[str], Stat | None],
    mount_points: frozenset[str] = ENGINE_MOUNT_POINTS,
) -> list[Change]:
    """The changes an overlay upper directory's entries stand for; `lower_stat(path)`
    is that path in the image's layers (None: they do not have it). A directory the
    layers have is a change only when its owner or mode changed (else it is in the
    upper directory for what it holds, and listed as their parent). An empty entry at
    one of `mount_points` that no layer has is the engine's, not a change."""
    changes: dict[str, str] = {}
    hidden: list[str] = []  # opaque directories: nothing below them comes from a layer
    for entry in entries:
        if entry.whiteout:
            changes[entry.path] = DELETED
            continue
        if entry.opaque:
            changes[entry.path] = CHANGED
            hidden.append(entry.path)
            continue
        below_opaque = any(entry.path.startswith(d + "/") for d in hidden)
        lower = None if below_opaque else lower_stat(entry.path)
        if lower is None:
            if not (entry.empty and entry.path in mount_points):
                changes[entry.path] = ADDED
        elif (
            not entry.directory
            or not lower.is_dir
            or (lower.uid, lower.gid, lower.mode) != entry.owner_mode
        ):
            changes[entry.path] = CHANGED
    return with_parents(changes)


def with_parents(changes: dict[str, str]) -> list[Change]:
    """Every directory on the way to a change is changed too (unless it is itself new)."""
    for path in list(changes):
        parent = os.path.dirname(path)
        while parent != "/" and parent not in changes:
            changes[parent] = CHANGED
            parent = os.path.dirname(parent)
    return sorted(Change(path, kind) for path, kind in changes.items())


# -- overlay --------------------------------------------------------------------------


def walk_upper(upper: str, ops: FsOps | None = None) -> Iterator[UpperEntry]:
    """The entries of an overlay upper directory, parents before children."""
    ops = ops or RealFsOps()
    fd = os.open(upper, _DIR_FLAGS)
    try:
        yield from _walk(fd, "", ops)
    finally:
        os.close(fd)


def _walk(fd: int, prefix: str, ops: FsOps) -> Iterator[UpperEntry]:
    with os.scandir(fd) as scan:
        names = sorted(item.name for item in scan)
    for name in names:
        path = f"{prefix}/{name}"
        st = ops.lstat(fd, os.fsencode(name))
        if st.is_whiteout:
            yield UpperEntry(path, whiteout=True)
            continue
        owner_mode = (st.uid, st.gid, st.mode)
        if not st.is_dir:
            empty = stat.S_ISREG(st.mode) and st.size == 0
            yield UpperEntry(path, empty=empty, owner_mode=owner_mode)
            continue
        child = os.open(name, _DIR_FLAGS, dir_fd=fd)
        try:
            opaque = _is_opaque(child, ops)
            yield UpperEntry(
                path, opaque=opaque, empty=True, directory=True, owner_mode=owner_mode
            )
            yield from _walk(child, path, ops)
        finally:
            os.close(child)


def _is_opaque(fd: int, ops: FsOps) -> bool:
    return any(ops.fgetxattr(fd, attr) == b"y" for attr in _OPAQUE)


class LowerLayers:
    """Whether a path exists in a stack of overlay lower directories (top first), as
    the overlay shows it: a whiteout or an opaque directory in a layer hides the path
    in the layers below, and a symlink on the way is not a directory."""

    def __init__(self, lowers: Sequence[str], ops: FsOps | None = None) -> None:
        self.ops = ops or RealFsOps()
        self.fds = [os.open(lower, _DIR_FLAGS) for lower in lowers]

    def close(self) -> None:
        for fd in self.fds:
            os.close(fd)
        self.fds = []

    def stat(self, path: str) -> Stat | None:
        """The path as the layers show it; None when they do not have it."""
        parts = [os.fsencode(p) for p in path.strip("/").split("/") if p]
        for fd in self.fds:
            found = self._lookup(fd, parts)
            if found is not False:
                return found
        return None

    def _lookup(self, layer_fd: int, parts: list[bytes]) -> Stat | Literal[False] | None:
        """Its Stat: here; None: hidden from here down; False: look in the next layer."""
        fd = layer_fd
        opened: list[int] = []
        try:
            hides_below = False
            for index, part in enumerate(parts):
                try:
                    st = self.ops.lstat(fd, part)
                except FileNotFoundError:
                    return None if hides_below else False
                if st.is_whiteout:
                    return None
                if index == len(parts) - 1:
                    return st
                if not st.is_dir:
                    return None
                fd = os.open(part, _DIR_FLAGS, dir_fd=fd)
                opened.append(fd)
                hides_below = hides_below or _is_opaque(fd, self.ops)
            return self.ops.fstat(layer_fd)
        finally:
            for item in opened:
                os.close(item)


def overlay_changes(upper: str, lowers: Sequence[str], ops: FsOps | None = None) -> list[Change]:
    layers = LowerLayers(lowers, ops)
    try:
        return classify(walk_upper(upper, ops), layers.stat)
    finally:
        layers.close()


# -- vfs (two whole trees) ------------------------------------------------------------


def tree_changes(lower: str, upper: str, ops: FsOps | None = None) -> list[Change]:
    """What turns tree `lower` into tree `upper`."""
    ops = ops or RealFsOps()
    changes: dict[str, str] = {}
    lower_fd = os.open(lower, _DIR_FLAGS)
    upper_fd = os.open(upper, _DIR_FLAGS)
    try:
        _compare(lower_fd, upper_fd, "", ops, changes)
    finally:
        os.close(lower_fd)
        os.close(upper_fd)
    return with_parents(changes)


def _names(fd: int) -> set[str]:
    with os.scandir(fd) as scan:
        return {item.name for item in scan}


def _compare(lower_fd: int, upper_fd: int, prefix: str, ops: FsOps, out: dict[str, str]) -> None:
    lower_names = _names(lower_fd)
    upper_names = _names(upper_fd)
    for name in sorted(lower_names | upper_names):
        path = f"{prefix}/{name}"
        if name not in upper_names:
            out[path] = DELETED
            continue
        ust = ops.lstat(upper_fd, os.fsencode(name))
        lst = ops.lstat(lower_fd, os.fsencode(name)) if name in lower_names else None
        if lst is None or stat.S_IFMT(lst.mode) != stat.S_IFMT(ust.mode):
            out[path] = ADDED if lst is None else CHANGED
            if ust.is_dir:
                _all_added(upper_fd, name, path, out)
            continue
        if not _same(lower_fd, upper_fd, name, lst, ust):
            out[path] = CHANGED
        if ust.is_dir:
            lower_child = os.open(name, _DIR_FLAGS, dir_fd=lower_fd)
            upper_child = os.open(name, _DIR_FLAGS, dir_fd=upper_fd)
            try:
                _compare(lower_child, upper_child, path, ops, out)
            finally:
                os.close(lower_child)
                os.close(upper_child)


def _all_added(dir_fd: int, name: str, path: str, out: dict[str, str]) -> None:
    fd = os.open(name, _DIR_FLAGS, dir_fd=dir_fd)
    try:
        for child in sorted(_names(fd)):
            out[f"{path}/{child}"] = ADDED
            if stat.S_ISDIR(os.lstat(child, dir_fd=fd).st_mode):
                _all_added(fd, child, f"{path}/{child}", out)
    finally:
        os.close(fd)


def _same(lower_fd: int, upper_fd: int, name: str, lst: Stat, ust: Stat) -> bool:
    if (lst.mode, lst.uid, lst.gid) != (ust.mode, ust.uid, ust.gid):
        return False
    if ust.is_dir:
        return True  # a directory is changed by what it holds, reported on its own
    if (lst.mtime_ns, lst.size, lst.rdev) != (ust.mtime_ns, ust.size, ust.rdev):
        return False
    if ust.is_symlink:
        return os.readlink(name, dir_fd=lower_fd) == os.readlink(name, dir_fd=upper_fd)
    return True


# -- a container ----------------------------------------------------------------------


def container_changes(engine: Engine, text: str) -> list[Change]:
    """The changes of container `text` against its image (Docker's `diff`)."""
    record = engine.find(text)
    store = engine.store
    mounts = store.snapshotter.mounts(rootfs.snapshot_key(record.id))
    for item in mounts:
        upper = item.option("upperdir")
        if upper is not None:
            lowers = (item.option("lowerdir") or "").split(":")
            return overlay_changes(upper, [d for d in lowers if d])
    tree = rootfs.upper_dir(store, record.id)
    assert tree is not None  # vfs: a bind of the container's own tree
    parent = store.snapshotter.stat(rootfs.snapshot_key(record.id)).parent
    if parent is None:
        return tree_changes_from_nothing(tree)
    view = f"diff-{record.id}-{secrets.token_hex(4)}"
    image_tree = store.snapshotter.view(view, parent)[0].source
    try:
        return tree_changes(image_tree, tree)
    finally:
        store.snapshotter.remove(view)


def tree_changes_from_nothing(tree: str) -> list[Change]:
    """A container of an empty image: everything is new."""
    out: dict[str, str] = {}
    fd = os.open(tree, _DIR_FLAGS)
    try:
        for name in sorted(_names(fd)):
            out[f"/{name}"] = ADDED
            if stat.S_ISDIR(os.lstat(name, dir_fd=fd).st_mode):
                _all_added(fd, name, f"/{name}", out)
    finally:
        os.close(fd)
    return with_parents(out)
