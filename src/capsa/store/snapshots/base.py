"""The snapshotter interface (containerd's `snapshots.Snapshotter`) and its values.

A snapshotter keeps file trees in a chain: a *committed* snapshot is read-only and may be
the parent of others; an *active* one is writable; a *view* is a read-only look at a
parent. It never mounts anything: `prepare`, `view` and `mounts` return the `Mount`s the
caller performs (see `capsa.store.mount`), so the same snapshotter serves a container
runtime, a build, and a layer unpack.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Protocol

from capsa.store.layerformat import OPAQUE_XATTR, Style


class Kind(StrEnum):
    VIEW = "view"
    ACTIVE = "active"
    COMMITTED = "committed"


@dataclass(frozen=True)
class Mount:
    """One mount to perform: `mount -t type -o options source target` (the target is
    the caller's). Options are mount(8)-style words: ro/rw, bind/rbind, and fs data."""

    type: str
    source: str
    options: tuple[str, ...] = ()

    def option(self, name: str) -> str | None:
        """The value of a `name=value` option."""
        prefix = f"{name}="
        for option in self.options:
            if option.startswith(prefix):
                return option[len(prefix) :]
        return None

    @property
    def readonly(self) -> bool:
        return "ro" in self.options or (self.type == "overlay" and self.option("upperdir") is None)


@dataclass(frozen=True)
class Info:
    key: str
    kind: Kind
    parent: str | None
    labels: Mapping[str, str] = field(default_factory=dict)
    created: float = 0.0
    updated: float = 0.0


@dataclass(frozen=True)
class Usage:
    size: int  # bytes on disk (blocks), each inode counted once
    inodes: int


@dataclass(frozen=True)
class ApplyTarget:
    """Where to unpack a layer into an active snapshot without mounting it."""

    path: str
    style: Style
    lowers: tuple[str, ...]  # parent trees, top first (overlay style only)
    opaque_xattr: bytes = OPAQUE_XATTR  # how overlay style marks an opaque directory


class Snapshotter(Protocol):
    name: str

    def stat(self, key: str) -> Info: ...
    def usage(self, key: str) -> Usage: ...
    def mounts(self, key: str) -> list[Mount]: ...
    def prepare(
        self, key: str, parent: str | None = None, labels: Mapping[str, str] | None = None
    ) -> list[Mount]: ...
    def view(
        self, key: str, parent: str | None = None, labels: Mapping[str, str] | None = None
    ) -> list[Mount]: ...
    def commit(self, name: str, key: str, labels: Mapping[str, str] | None = None) -> None: ...
    def remove(self, key: str) -> None: ...
    def walk(self) -> Iterator[Info]: ...
    def apply_target(self, key: str) -> ApplyTarget: ...
    def cleanup(self) -> list[str]: ...
    def close(self) -> None: ...


def disk_usage(path: str | os.PathLike[str]) -> Usage:
    """Blocks and inodes under path (hard links counted once), never following links."""
    seen: set[tuple[int, int]] = set()
    size = 0
    stack = [os.fspath(path)]
    while stack:
        directory = stack.pop()
        try:
            entries = os.scandir(directory)
        except FileNotFoundError:
            continue
        with entries:
            for entry in entries:
                st = entry.stat(follow_symlinks=False)
                key = (st.st_dev, st.st_ino)
                if key in seen:
                    continue
                seen.add(key)
                size += st.st_blocks * 512
                if entry.is_dir(follow_symlinks=False):
                    stack.append(entry.path)
    return Usage(size, len(seen))
