"""The overlayfs snapshotter: a committed snapshot is a read-only directory shared by
every image and container above it; an active one adds `fs` (the upperdir) and `work`.

Mounts, as containerd's:
- active with parents: `overlay` with `lowerdir=<parents, nearest first>`, `upperdir`,
  `workdir` (and `index=off`, plus `redirect_dir=off` / `metacopy=off` where the kernel
  turns those on by default: a diff must see plain whiteouts and whole files);
- active without a parent: a bind mount of `fs`;
- a view of one parent: a read-only bind of it; of several: an overlay of lowerdirs only.

Long chains: snapshot directories are `<root>/snapshots/<id>/fs` with short integer ids,
and `capsa.store.mount` rewrites lowerdir as paths relative to `<root>/snapshots` (and
mounts from there) when the options would not fit in a page; 500 layers (the kernel's
limit) then fit. Layers are unpacked into an active snapshot's `fs` in overlay style
(whiteouts as 0:0 devices, opaque xattrs), with the parents as lowers.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
from pathlib import Path

from capsa.errors import InvalidArgument
from capsa.store._files import remove_tree
from capsa.store.fsops import FsOps
from capsa.store.layerformat import OPAQUE_XATTR, USER_OPAQUE_XATTR, Style
from capsa.store.snapshots._dirs import DirSnapshotter
from capsa.store.snapshots.base import ApplyTarget, Kind, Mount

MAX_LOWERS = 500  # overlayfs's OVL_MAX_STACK
_PARAMETERS = Path("/sys/module/overlay/parameters")


def overlay_options(*, userxattr: bool = False) -> tuple[str, ...]:
    """Options every overlay mount gets on this kernel; `userxattr` for a store of an
    unprivileged user, mounted in a user namespace (Linux 5.11 and later)."""
    options = ["userxattr"] if userxattr else []
    if (_PARAMETERS / "index").exists():
        options.append("index=off")
    for feature in ("redirect_dir", "metacopy"):
        with contextlib.suppress(OSError):
            if (_PARAMETERS / feature).read_text().strip() in ("Y", "on", "1"):
                options.append(f"{feature}=off")
    return tuple(options)


class OverlaySnapshotter(DirSnapshotter):
    name = "overlay"

    def __init__(
        self, root: str | os.PathLike[str], *, ops: FsOps | None = None, userxattr: bool = False
    ) -> None:
        super().__init__(root, ops=ops)
        self.userxattr = userxattr
        self.options = overlay_options(userxattr=userxattr)

    def _check_depth(self, parent: sqlite3.Row | None) -> None:
        if parent is None:
            return
        depth = 1 + len(self._parents(parent))
        if depth > MAX_LOWERS:
            raise InvalidArgument(
                f"a chain of {depth} layers is deeper than overlayfs allows ({MAX_LOWERS})",
                hint="squash the image",
            )

    def _populate(self, tmp: Path, kind: Kind, parent_fs: str | None) -> None:
        if kind is Kind.ACTIVE:
            (tmp / "work").mkdir(mode=0o700)

    def _committed(self, snapshot_id: int) -> None:
        # the work dir only serves an upperdir: a committed layer is a lowerdir from now on
        with contextlib.suppress(OSError):
            remove_tree(self._dir(snapshot_id) / "work")

    def _mounts(self, row: sqlite3.Row, parents: list[sqlite3.Row]) -> list[Mount]:
        fs = self._fs(row["id"])
        lowers = [self._fs(parent["id"]) for parent in parents]
        if row["kind"] == Kind.ACTIVE:
            if not lowers:
                return [Mount("bind", fs, ("rbind", "rw"))]
            work = str(self._dir(row["id"]) / "work")
            return [
                Mount(
                    "overlay",
                    "overlay",
                    (
                        *self.options,
                        f"workdir={work}",
                        f"upperdir={fs}",
                        f"lowerdir={':'.join(lowers)}",
                    ),
                )
            ]
        if not lowers:
            return [Mount("bind", fs, ("rbind", "ro"))]
        if len(lowers) == 1:
            return [Mount("bind", lowers[0], ("rbind", "ro"))]
        return [Mount("overlay", "overlay", (*self.options, f"lowerdir={':'.join(lowers)}"))]

    def apply_target(self, key: str) -> ApplyTarget:
        row = self._row(key)
        if row["kind"] != Kind.ACTIVE:
            raise InvalidArgument(f"snapshot {key!r} is not active: nothing can be applied to it")
        lowers = tuple(self._fs(parent["id"]) for parent in self._parents(row))
        opaque = USER_OPAQUE_XATTR if self.userxattr else OPAQUE_XATTR
        return ApplyTarget(self._fs(row["id"]), Style.OVERLAY, lowers, opaque)
