"""Produce an OCI layer tar from a change to a file tree (the reverse of `unpack`).

- `diff_overlay(upper)`: an overlayfs upper directory *is* the change: whiteout devices
  (0:0) become `.wh.name` entries, an opaque directory gets `.wh..wh..opq`.
- `diff_dirs(lower, upper)`: compare two whole trees (the vfs snapshotter, or any two
  directories): what is new or changed is written, what is gone gets a whiteout. A file
  counts as changed when its type, mode, owner, size, mtime, device, link target or
  xattrs differ (content is not compared: the same rule as Docker's naive diff).

Output is deterministic: entries in byte order of their names (a directory before what
it holds), ustar/PAX headers as Go writes them, no user or group names, no atime or
ctime, and optionally every mtime fixed or clamped to one value (SOURCE_DATE_EPOCH).
Every entry is preceded by its parent directories, so the layer is self-describing.
Regular files with several links inside the layer become hard links to the first one.
Sockets are skipped (a tar cannot hold them). A `select` callback can leave entries out
or write a directory only as the parent of something written (`capsa commit` drops the
mount points the engine made).
"""

from __future__ import annotations

import enum
import hashlib
import os
import stat
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial

from capsa.errors import Conflict, Unavailable
from capsa.oci.digest import Digest
from capsa.store._files import CHUNK
from capsa.store.compression import Compression, Compressor
from capsa.store.fsops import FsOps, RealFsOps, Stat
from capsa.store.idmap import IdMap
from capsa.store.layerformat import OPAQUE_MARKER, WHITEOUT_PREFIX
from capsa.store.tarstream import (
    BLOCKDEV,
    CHAR,
    DIRECTORY,
    FIFO,
    HARDLINK,
    REGULAR,
    SYMLINK,
    TarEntry,
    TarWriter,
)

_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_OPAQUE = (b"trusted.overlay.opaque", b"user.overlay.opaque")
_UNSUPPORTED = (
    b"trusted.overlay.redirect",
    b"trusted.overlay.metacopy",
    b"user.overlay.redirect",
    b"user.overlay.metacopy",
)
_SKIPPED_XATTRS = (b"trusted.overlay.", b"user.overlay.", b"security.selinux")


class Keep(enum.Enum):
    """What to do with one entry the diff would write."""

    WRITE = "write"
    SKIP = "skip"  # leave it out; a directory with all it holds
    IF_NEEDED = "if-needed"  # a directory: written only as the parent of something written


# `select(name, st)`: name relative to the root, no leading slash (b"etc/hosts")
Select = Callable[[bytes, Stat], Keep]


@dataclass(frozen=True)
class DiffResult:
    diff_id: Digest  # sha256 of the tar
    size: int  # bytes of tar
    digest: Digest  # sha256 of what was written (the compressed blob)
    compressed_size: int
    compression: Compression
    entries: int


class _Output:
    def __init__(
        self, write: Callable[[bytes], object], compression: Compression, level: int | None
    ) -> None:
        self._write = write
        self._blob_hash = hashlib.sha256()
        self._tar_hash = hashlib.sha256()
        self.size = 0
        self.compressor = Compressor(compression, self._emit, level)

    def _emit(self, data: bytes) -> None:
        self._blob_hash.update(data)
        self._write(data)

    def write(self, data: bytes | memoryview) -> None:
        self._tar_hash.update(data)
        self.size += len(data)
        self.compressor.write(data)

    def result(self, entries: int) -> DiffResult:
        self.compressor.close()
        return DiffResult(
            Digest("sha256", self._tar_hash.hexdigest()),
            self.size,
            Digest("sha256", self._blob_hash.hexdigest()),
            self.compressor.compressed_size,
            self.compressor.kind,
            entries,
        )


class _Differ:
    def __init__(
        self,
        write: Callable[[bytes], object],
        *,
        compression: Compression,
        level: int | None,
        mtime: int | None,
        clamp_mtime: bool,
        id_map: IdMap | None,
        ops: FsOps,
        select: Select | None = None,
    ) -> None:
        self.select = select
        self.output = _Output(write, compression, level)
        self.tar = TarWriter(self.output.write)
        self.mtime_ns = None if mtime is None else mtime * 1_000_000_000
        self.clamp = clamp_mtime
        self.id_map = id_map
        self.ops = ops
        self.entries = 0
        self.links: dict[tuple[int, int], bytes] = {}
        self.buffer = bytearray(CHUNK)
        # directories on the way to the current entry, not yet written: (name, fd, base, st)
        self.pending: list[tuple[bytes, int, bytes, Stat]] = []

    # -- writing entries ------------------------------------------------------------------

    def _time(self, mtime_ns: int) -> int:
        if self.mtime_ns is None:
            return mtime_ns
        if self.clamp:
            return min(mtime_ns, self.mtime_ns)
        return self.mtime_ns

    def _owner(self, st: Stat) -> tuple[int, int]:
        if self.id_map is None:
            return st.uid, st.gid
        return self.id_map.to_container(st.uid, st.gid)

    def _xattrs(self, dir_fd: int, base: bytes) -> dict[bytes, bytes]:
        values = {}
        for attr in self.ops.listxattr(dir_fd, base):
            if attr.startswith(_SKIPPED_XATTRS):
                continue
            value = self.ops.getxattr(dir_fd, base, attr)
            if value is not None:
                values[attr] = value
        return values

    def flush_parents(self) -> None:
        pending, self.pending = self.pending, []
        for name, fd, base, st in pending:
            self.entry(name, fd, base, st)

    def whiteout(self, name: bytes, mtime_ns: int) -> None:
        self.flush_parents()
        self.tar.add(TarEntry(name, REGULAR, mode=0, mtime_ns=self._time(mtime_ns)))
        self.entries += 1

    def _header(
        self,
        name: bytes,
        type: bytes,
        dir_fd: int,
        base: bytes,
        st: Stat,
        *,
        size: int = 0,
        linkname: bytes = b"",
    ) -> TarEntry:
        uid, gid = self._owner(st)
        device = stat.S_ISCHR(st.mode) or stat.S_ISBLK(st.mode)
        return TarEntry(
            name,
            type,
            mode=stat.S_IMODE(st.mode),
            uid=uid,
            gid=gid,
            size=size,
            mtime_ns=self._time(st.mtime_ns),
            linkname=linkname,
            devmajor=os.major(st.rdev) if device else 0,
            devminor=os.minor(st.rdev) if device else 0,
            xattrs=self._xattrs(dir_fd, base),
        )

    def entry(self, name: bytes, dir_fd: int, base: bytes, st: Stat) -> None:
        """Write one entry (its parents first)."""
        self.flush_parents()
        mode = st.mode
        if stat.S_ISDIR(mode):
            self.tar.add(self._header(name + b"/", DIRECTORY, dir_fd, base, st))
        elif stat.S_ISREG(mode):
            key = (st.dev, st.ino)
            first = self.links.get(key) if st.nlink > 1 else None
            if first is not None:
                self.tar.add(self._header(name, HARDLINK, dir_fd, base, st, linkname=first))
            else:
                if st.nlink > 1:
                    self.links[key] = name
                self._regular(name, dir_fd, base, st)
        elif stat.S_ISLNK(mode):
            target = os.readlink(base, dir_fd=dir_fd)
            self.tar.add(self._header(name, SYMLINK, dir_fd, base, st, linkname=target))
        elif stat.S_ISCHR(mode):
            self.tar.add(self._header(name, CHAR, dir_fd, base, st))
        elif stat.S_ISBLK(mode):
            self.tar.add(self._header(name, BLOCKDEV, dir_fd, base, st))
        elif stat.S_ISFIFO(mode):
            self.tar.add(self._header(name, FIFO, dir_fd, base, st))
        else:
            return  # a socket: nothing a tar can carry
        self.entries += 1

    def _regular(self, name: bytes, dir_fd: int, base: bytes, st: Stat) -> None:
        fd = os.open(base, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=dir_fd)
        try:
            size = os.fstat(fd).st_size
            self.tar.add(self._header(name, REGULAR, dir_fd, base, st, size=size))
            view = memoryview(self.buffer)
            left = size
            while left:
                count = os.readv(fd, [view[: min(left, CHUNK)]])
                if not count:
                    raise Conflict(f"{name.decode(errors='replace')} shrank while being read")
                self.tar.write(view[:count])
                left -= count
        finally:
            os.close(fd)

    def close(self) -> DiffResult:
        self.tar.close()
        return self.output.result(self.entries)

    # -- walking ------------------------------------------------------------------------

    def children(self, fd: int) -> list[bytes]:
        with os.scandir(fd) as scan:
            return sorted(os.fsencode(item.name) for item in scan)

    def keep(self, name: bytes, st: Stat) -> Keep:
        if self.select is None:
            return Keep.WRITE
        keep = self.select(name, st)
        return Keep.SKIP if keep is Keep.IF_NEEDED and not st.is_dir else keep

    def directory(
        self, name: bytes, fd: int, base: bytes, st: Stat, keep: Keep, inside: Callable[[], None]
    ) -> None:
        """Write directory `name` (now, or with IF_NEEDED once something in it is written)
        and then what `inside` writes of its content."""
        if keep is Keep.WRITE:
            self.entry(name, fd, base, st)
        else:
            self.pending.append((name, fd, base, st))
        depth = len(self.pending)
        try:
            inside()
        finally:
            if keep is Keep.IF_NEEDED and len(self.pending) >= depth:
                del self.pending[depth - 1 :]

    def descend(
        self, name: bytes, fd: int, base: bytes, st: Stat, keep: Keep, walk: Callable[[int], None]
    ) -> None:
        """directory(), with `walk` given the directory opened (and closed after)."""
        child = os.open(base, _DIR_FLAGS, dir_fd=fd)
        try:
            self.directory(name, fd, base, st, keep, partial(walk, child))
        finally:
            os.close(child)

    def overlay(self, fd: int, prefix: bytes) -> None:
        for base in self.children(fd):
            name = prefix + base
            st = self.ops.lstat(fd, base)
            if st.is_whiteout:
                self.whiteout(prefix + WHITEOUT_PREFIX + base, st.mtime_ns)
                continue
            keep = self.keep(name, st)
            if keep is Keep.SKIP:
                continue
            if not st.is_dir:
                self.entry(name, fd, base, st)
                continue
            for attr in _UNSUPPORTED:
                if self.ops.getxattr(fd, base, attr) is not None:
                    raise Unavailable(
                        f"cannot diff {name.decode(errors='replace')}: it has {attr.decode()}",
                        hint="mount overlay with redirect_dir=off and metacopy=off",
                    )
            self.descend(name, fd, base, st, keep, partial(self._overlay_dir, name=name, st=st))

    def _overlay_dir(self, fd: int, name: bytes, st: Stat) -> None:
        if any(self.ops.fgetxattr(fd, attr) == b"y" for attr in _OPAQUE):
            self.whiteout(name + b"/" + OPAQUE_MARKER, st.mtime_ns)
        self.overlay(fd, name + b"/")

    def everything(self, fd: int, prefix: bytes) -> None:
        for base in self.children(fd):
            name = prefix + base
            st = self.ops.lstat(fd, base)
            keep = self.keep(name, st)
            if keep is Keep.SKIP:
                continue
            if not st.is_dir:
                self.entry(name, fd, base, st)
                continue
            self.descend(name, fd, base, st, keep, partial(self.everything, prefix=name + b"/"))

    def compare(self, lower_fd: int, upper_fd: int, prefix: bytes) -> None:
        lower_names = set(self.children(lower_fd))
        upper_names = set(self.children(upper_fd))
        for base in sorted(lower_names | upper_names):
            name = prefix + base
            if base not in upper_names:
                st = self.ops.lstat(lower_fd, base)
                self.whiteout(prefix + WHITEOUT_PREFIX + base, st.mtime_ns)
                continue
            ust = self.ops.lstat(upper_fd, base)
            lst = self.ops.lstat(lower_fd, base) if base in lower_names else None
            if lst is None or stat.S_IFMT(lst.mode) != stat.S_IFMT(ust.mode):
                keep = self.keep(name, ust)
                if keep is Keep.SKIP:
                    continue
                if not ust.is_dir:
                    self.entry(name, upper_fd, base, ust)
                    continue
                walk = partial(self.everything, prefix=name + b"/")
                self.descend(name, upper_fd, base, ust, keep, walk)
                continue
            changed = not self._same(lower_fd, upper_fd, base, lst, ust)
            keep = self.keep(name, ust) if changed else Keep.IF_NEEDED
            if keep is Keep.SKIP:
                continue
            if not ust.is_dir:
                if keep is Keep.WRITE:
                    self.entry(name, upper_fd, base, ust)
                continue
            upper_child = os.open(base, _DIR_FLAGS, dir_fd=upper_fd)
            lower_child = os.open(base, _DIR_FLAGS, dir_fd=lower_fd)
            try:
                self.directory(
                    name,
                    upper_fd,
                    base,
                    ust,
                    keep,
                    partial(self.compare, lower_child, upper_child, name + b"/"),
                )
            finally:
                os.close(upper_child)
                os.close(lower_child)

    def _same(self, lower_fd: int, upper_fd: int, base: bytes, lst: Stat, ust: Stat) -> bool:
        if (lst.mode, lst.uid, lst.gid, lst.mtime_ns) != (ust.mode, ust.uid, ust.gid, ust.mtime_ns):
            return False
        if stat.S_ISREG(ust.mode) and lst.size != ust.size:
            return False
        if (stat.S_ISCHR(ust.mode) or stat.S_ISBLK(ust.mode)) and lst.rdev != ust.rdev:
            return False
        if stat.S_ISLNK(ust.mode) and os.readlink(base, dir_fd=lower_fd) != os.readlink(
            base, dir_fd=upper_fd
        ):
            return False
        return self._xattrs(lower_fd, base) == self._xattrs(upper_fd, base)


def _run(
    write: Callable[[bytes], object],
    walk: Callable[[_Differ], None],
    *,
    compression: Compression,
    level: int | None,
    mtime: int | None,
    clamp_mtime: bool,
    id_map: IdMap | None,
    ops: FsOps | None,
    select: Select | None = None,
) -> DiffResult:
    differ = _Differ(
        write,
        compression=compression,
        level=level,
        mtime=mtime,
        clamp_mtime=clamp_mtime,
        id_map=id_map,
        ops=ops or RealFsOps(),
        select=select,
    )
    walk(differ)
    return differ.close()


def diff_overlay(
    upper: str | os.PathLike[str],
    write: Callable[[bytes], object],
    *,
    compression: Compression = Compression.NONE,
    level: int | None = None,
    mtime: int | None = None,
    clamp_mtime: bool = False,
    id_map: IdMap | None = None,
    ops: FsOps | None = None,
    select: Select | None = None,
) -> DiffResult:
    """The layer an overlayfs upper directory holds, written to `write` (compressed as
    asked). `mtime` (seconds) fixes every time, or with `clamp_mtime` caps it. `select`
    decides on each entry but whiteouts."""

    def walk(differ: _Differ) -> None:
        fd = os.open(upper, _DIR_FLAGS)
        try:
            differ.overlay(fd, b"")
        finally:
            os.close(fd)

    return _run(
        write,
        walk,
        compression=compression,
        level=level,
        mtime=mtime,
        clamp_mtime=clamp_mtime,
        id_map=id_map,
        ops=ops,
        select=select,
    )


def diff_dirs(
    lower: str | os.PathLike[str] | None,
    upper: str | os.PathLike[str],
    write: Callable[[bytes], object],
    *,
    compression: Compression = Compression.NONE,
    level: int | None = None,
    mtime: int | None = None,
    clamp_mtime: bool = False,
    id_map: IdMap | None = None,
    ops: FsOps | None = None,
    select: Select | None = None,
) -> DiffResult:
    """The layer that turns tree `lower` into tree `upper` (all of `upper` when `lower`
    is None), written to `write`."""

    def walk(differ: _Differ) -> None:
        upper_fd = os.open(upper, _DIR_FLAGS)
        try:
            if lower is None:
                differ.everything(upper_fd, b"")
                return
            lower_fd = os.open(lower, _DIR_FLAGS)
            try:
                differ.compare(lower_fd, upper_fd, b"")
            finally:
                os.close(lower_fd)
        finally:
            os.close(upper_fd)

    return _run(
        write,
        walk,
        compression=compression,
        level=level,
        mtime=mtime,
        clamp_mtime=clamp_mtime,
        id_map=id_map,
        ops=ops,
        select=select,
    )
