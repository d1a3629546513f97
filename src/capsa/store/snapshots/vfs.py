"""The vfs snapshotter: no kernel help needed. An active snapshot starts as a full copy of
its parent (every file type, hard links, owners, xattrs and times kept; reflinks where
the file system has them), a view is a read-only bind of its parent, and layers are
applied in place (whiteouts delete). Mounts are bind mounts."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from capsa.errors import InvalidArgument
from capsa.store.copy import copy_tree
from capsa.store.layerformat import Style
from capsa.store.snapshots._dirs import DirSnapshotter
from capsa.store.snapshots.base import ApplyTarget, Kind, Mount


class VfsSnapshotter(DirSnapshotter):
    name = "vfs"

    def _populate(self, tmp: Path, kind: Kind, parent_fs: str | None) -> None:
        if kind is Kind.ACTIVE and parent_fs is not None:
            copy_tree(parent_fs, tmp / "fs", ops=self.ops)

    def _mounts(self, row: sqlite3.Row, parents: list[sqlite3.Row]) -> list[Mount]:
        if row["kind"] == Kind.ACTIVE:
            return [Mount("bind", self._fs(row["id"]), ("rbind", "rw"))]
        source = self._fs(parents[0]["id"]) if parents else self._fs(row["id"])
        return [Mount("bind", source, ("rbind", "ro"))]

    def apply_target(self, key: str) -> ApplyTarget:
        row = self._row(key)
        if row["kind"] != Kind.ACTIVE:
            raise InvalidArgument(f"snapshot {key!r} is not active: nothing can be applied to it")
        return ApplyTarget(self._fs(row["id"]), Style.APPLY, ())
