"""Apply an OCI layer (tar, tar+gzip, tar+zstd, detected by magic bytes) onto a directory.

Two output styles:

- `Style.OVERLAY` writes the layer into an empty overlayfs upper directory: a whiteout
  `.wh.name` becomes a 0:0 character device `name`, and `.wh..wh..opq` sets
  `trusted.overlay.opaque=y` on its directory. `lowers` (the parent layers, top first)
  are read to refuse paths through their symlinks and to give implicitly created parent
  directories the attributes the merged view shows.
- `Style.APPLY` applies the layer onto a directory that already holds the parent's
  content (the vfs snapshotter): whiteouts delete.

Safety: names are cleaned lexically (absolute paths and `..` refused), every directory
on the way to an entry is opened with O_NOFOLLOW relative to its parent's descriptor (a
symlink anywhere on the way, from this layer or a lower one, is refused), entries are
created with O_EXCL / mknodat / symlinkat and never through a symlink, a hard link must
name an earlier entry of this same layer, and `trusted.overlay.*` xattrs from the layer
are dropped (they could point overlayfs at other layers' files). Whiteouts follow the
image-spec: they hide what lower layers had, never what the same layer adds, whatever
the order of the entries.

The layer streams through in 1 MiB pieces: a thread reads, decompresses and hashes (the
diff ID) while the caller's thread parses the tar and writes files (zlib, zstd, hashlib
and write(2) all release the GIL).
"""

from __future__ import annotations

import errno
import hashlib
import os
import queue
import secrets
import stat
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from capsa.errors import (
    AlreadyExists,
    CapsaError,
    InvalidArgument,
    PermissionDenied,
    Unavailable,
)
from capsa.oci.digest import Digest
from capsa.store._files import CHUNK, chmod_nofollow, remove_tree, remove_tree_at
from capsa.store.blobs import Readable
from capsa.store.compression import MAGIC_LENGTH, Compression, decompressed, detect
from capsa.store.errors import DigestMismatch, LayerRefused
from capsa.store.fsops import AT_FDCWD, FsOps, RealFsOps, Stat
from capsa.store.layerformat import (
    OPAQUE_MARKER,
    OPAQUE_XATTR,
    WHITEOUT_PREFIX,
    IdMapper,
    Style,
)

if TYPE_CHECKING:
    from concurrent.futures import Future, ThreadPoolExecutor

from capsa.store.tarstream import (
    BLOCKDEV,
    CHAR,
    DIRECTORY,
    FIFO,
    HARDLINK,
    REGULAR_TYPES,
    SYMLINK,
    TarEntry,
    TarFormatError,
    TarReader,
    display,
)

_OVERLAY_XATTRS = (b"trusted.overlay.", b"user.overlay.")
_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_FILE_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
_FD_CACHE = 64
_QUEUE_DEPTH = 8
# Small files are written by a few threads while the tar is read on, where creating a
# file is a wait on the file system far more than work for the CPU (0.8 ms a file on some
# virtual disks) and waits overlap. Where it is quick (tmpfs, a fast local disk) threads
# only cost: the first small files, written in line, tell which case this is.
_WRITERS = 4
_PROBE_FILES = 16
_SLOW_CREATE = 0.2e-3  # seconds a small file takes to write in line that make threads pay
_SMALL_FILE = 256 << 10
_MAX_PENDING = 256  # files read but not yet written (at most 64 MiB held)


@dataclass(frozen=True)
class UnpackResult:
    diff_id: Digest  # sha256 of the uncompressed tar
    size: int  # bytes of uncompressed tar
    compression: Compression
    entries: int
    warnings: tuple[str, ...] = ()


def apply_layer(
    source: Readable,
    target: str | os.PathLike[str],
    *,
    style: Style = Style.APPLY,
    lowers: Sequence[str | os.PathLike[str]] = (),
    id_map: IdMapper | None = None,
    ops: FsOps | None = None,
    expected_diff_id: Digest | str | None = None,
    layer: str = "layer",
    threaded: bool = True,
    opaque_xattr: bytes = OPAQUE_XATTR,
) -> UnpackResult:
    """Apply the layer read from `source` onto the directory `target`, in place.
    `opaque_xattr` is the xattr marking opaque directories in overlay style
    (USER_OPAQUE_XATTR for an overlay mounted with `userxattr`).

    On failure `target` may hold part of the layer: apply into a directory that can be
    thrown away (a fresh snapshot, or use `unpack_layer`). `layer` names the layer in
    errors (a digest, usually). The diff ID is checked against `expected_diff_id` once
    the whole stream has been read.
    """
    expected = (
        Digest.parse(expected_diff_id) if isinstance(expected_diff_id, str) else expected_diff_id
    )
    root_fd = os.open(target, _DIR_FLAGS)
    applier = _Applier(
        root_fd, style, lowers, id_map, ops or RealFsOps(), layer, opaque_xattr, writers=threaded
    )
    stream = _LayerStream(source, threaded)
    entry: TarEntry | None = None
    try:
        reader = TarReader(stream.chunks())
        try:
            for entry in reader:
                try:
                    applier.apply(entry, reader.data())
                except OSError as error:
                    raise _os_error(layer, entry, error) from error
            entry = None
            applier.finish()
            diff_id, size = stream.finish()
        except TarFormatError as error:
            after = f" (after entry {display(entry.name)!r})" if entry is not None else ""
            raise LayerRefused(layer, "", f"{error.message}{after}") from None
    finally:
        stream.cancel()
        applier.close()
        os.close(root_fd)
    if expected is not None and diff_id != expected:
        raise DigestMismatch(
            f"layer {layer}: uncompressed content has diff ID {diff_id}, expected {expected}",
            expected=str(expected),
            actual=str(diff_id),
            hint="the image's config does not match its layers",
        )
    return UnpackResult(diff_id, size, stream.compression, applier.entries, tuple(applier.warnings))


def unpack_layer(
    source: Readable,
    dest: str | os.PathLike[str],
    *,
    style: Style = Style.APPLY,
    lowers: Sequence[str | os.PathLike[str]] = (),
    id_map: IdMapper | None = None,
    ops: FsOps | None = None,
    expected_diff_id: Digest | str | None = None,
    layer: str = "layer",
) -> UnpackResult:
    """Unpack a layer into the new directory `dest`: into a fresh temporary directory
    next to it, renamed into place only when the whole layer applied and verified. On
    any failure nothing is left."""
    dest_path = Path(dest)
    if os.path.lexists(dest_path):
        raise AlreadyExists(f"cannot unpack layer {layer}: {dest_path} already exists")
    tmp = dest_path.parent / f".{dest_path.name}.unpack-{secrets.token_hex(6)}"
    os.mkdir(tmp, 0o700)
    try:
        os.chmod(tmp, 0o755)
        result = apply_layer(
            source,
            tmp,
            style=style,
            lowers=lowers,
            id_map=id_map,
            ops=ops,
            expected_diff_id=expected_diff_id,
            layer=layer,
        )
        if os.path.lexists(dest_path):
            raise AlreadyExists(f"cannot unpack layer {layer}: {dest_path} already exists")
        os.rename(tmp, dest_path)
    except BaseException:
        remove_tree(tmp)
        raise
    return result


def _os_error(layer: str, entry: TarEntry, error: OSError) -> CapsaError:
    what = f"layer {layer}: entry {display(entry.name)!r}: {error.strerror or error}"
    if error.errno in (errno.ENOSPC, errno.EDQUOT):
        return Unavailable(what, hint="free some space (capsa image prune) and retry")
    if error.errno in (errno.EPERM, errno.EACCES):
        return PermissionDenied(what, hint="unpacking this layer needs root")
    if error.errno in (errno.ENAMETOOLONG, errno.EINVAL, errno.EEXIST, errno.EMLINK):
        return LayerRefused(layer, display(entry.name), error.strerror or str(error))
    return CapsaError(what)


# -- the stream: read, decompress, hash --------------------------------------------------


class _Failure:
    def __init__(self, error: BaseException) -> None:
        self.error = error


_DONE = object()


class _LayerStream:
    """The uncompressed bytes of a layer, with their sha256 computed on the way."""

    def __init__(self, source: Readable, threaded: bool) -> None:
        head = b""
        while len(head) < MAGIC_LENGTH:
            more = source.read(CHUNK)
            if not more:
                break
            head += more
        self.compression = detect(head)
        self._pieces = decompressed(head, source.read, self.compression)
        self._hasher = hashlib.sha256()
        self._size = 0
        self._finished = False
        self._cancel = threading.Event()
        self._queue: queue.Queue[object] | None = None
        self._thread: threading.Thread | None = None
        if threaded:
            self._queue = queue.Queue(_QUEUE_DEPTH)
            self._thread = threading.Thread(target=self._produce, name="layer-reader", daemon=True)
            self._thread.start()

    def _produce(self) -> None:
        # Decompressing is the slow stage: the consumer hashes compressed layers' pieces,
        # this thread hashes uncompressed ones (then writing files is the slow stage).
        hash_here = self.compression is Compression.NONE
        try:
            for piece in self._pieces:
                if hash_here:
                    self._hasher.update(piece)
                    self._size += len(piece)
                if not self._put(piece):
                    return
            self._put(_DONE)
        except BaseException as error:
            self._put(_Failure(error))

    def _put(self, item: object) -> bool:
        assert self._queue is not None
        while not self._cancel.is_set():
            try:
                self._queue.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def chunks(self) -> Iterator[bytes]:
        if self._queue is None:
            try:
                for piece in self._pieces:
                    self._hasher.update(piece)
                    self._size += len(piece)
                    yield piece
            except InvalidArgument as error:
                raise _stream_error(error) from None
            self._finished = True
            return
        while not self._finished:
            item = self._queue.get()
            if item is _DONE:
                self._finished = True
                return
            if isinstance(item, _Failure):
                self._finished = True
                raise _stream_error(item.error)
            assert isinstance(item, bytes)
            if self.compression is not Compression.NONE:
                self._hasher.update(item)
                self._size += len(item)
            yield item

    def finish(self) -> tuple[Digest, int]:
        """Read what is left after the tar's end (it counts in the diff ID)."""
        for _ in self.chunks():
            pass
        if self._thread is not None:
            self._thread.join()
        return Digest("sha256", self._hasher.hexdigest()), self._size

    def cancel(self) -> None:
        self._cancel.set()
        if self._thread is None:
            return
        assert self._queue is not None
        while self._thread.is_alive():
            try:
                self._queue.get(timeout=0.05)
            except queue.Empty:
                pass
        self._thread.join()


def _stream_error(error: BaseException) -> BaseException:
    """A broken compressed stream is a malformed layer; a corrupt blob stays itself."""
    if isinstance(error, InvalidArgument) and not isinstance(error, DigestMismatch):
        converted = TarFormatError(error.message)
        converted.__cause__ = error
        return converted
    return error


# -- the lower layers, as overlayfs would merge them -----------------------------------

_ABSENT, _DIR, _SYMLINK, _OTHER = range(4)


class _LowerView:
    """Lookups in the merged view of read-only lower layers (top first)."""

    def __init__(self, roots: list[bytes], ops: FsOps, opaque_xattr: bytes) -> None:
        self.roots = roots
        self.ops = ops
        self.opaque_xattr = opaque_xattr
        everything = tuple(range(len(roots)))
        self._cache: dict[bytes, tuple[int, Stat | None, tuple[int, ...]]] = {
            b"": (_DIR, None, everything)
        }

    def lookup(self, parts: Sequence[bytes]) -> tuple[int, Stat | None]:
        known = len(parts)
        while b"/".join(parts[:known]) not in self._cache:
            known -= 1
        found = self._cache[b"/".join(parts[:known])]
        for depth in range(known + 1, len(parts) + 1):
            key = b"/".join(parts[:depth])
            found = self._scan(key, found[2]) if found[0] == _DIR else (_ABSENT, None, ())
            self._cache[key] = found
        return found[0], found[1]

    def _scan(
        self, rel: bytes, layers: tuple[int, ...]
    ) -> tuple[int, Stat | None, tuple[int, ...]]:
        first: Stat | None = None
        visible: list[int] = []
        for index in layers:
            path = self.roots[index] + b"/" + rel
            try:
                st = self.ops.lstat(AT_FDCWD, path)
            except (FileNotFoundError, NotADirectoryError):
                continue
            if first is None:
                if st.is_whiteout:
                    return (_ABSENT, None, ())
                if st.is_symlink:
                    return (_SYMLINK, st, ())
                if not st.is_dir:
                    return (_OTHER, st, ())
                first = st
            elif not st.is_dir:
                break  # a non-directory lower down ends the merge
            visible.append(index)
            if self.ops.getxattr(AT_FDCWD, path, self.opaque_xattr) == b"y":
                break
        if first is None:
            return (_ABSENT, None, ())
        return (_DIR, first, tuple(visible))

    def xattrs(self, parts: Sequence[bytes]) -> dict[bytes, bytes]:
        """The xattrs of the topmost lower directory at `parts` (for copy-up)."""
        key = b"/".join(parts)
        found = self._cache.get(key)
        if found is None or found[0] != _DIR or not found[2]:
            return {}
        path = self.roots[found[2][0]] + b"/" + key
        values = {}
        for attr in self.ops.listxattr(AT_FDCWD, path):
            if attr.startswith(_OVERLAY_XATTRS):
                continue
            value = self.ops.getxattr(AT_FDCWD, path, attr)
            if value is not None:
                values[attr] = value
        return values


# -- the applier ------------------------------------------------------------------------


def _clean(name: bytes) -> list[bytes] | str:
    """Components of an archive name, or the reason it is refused."""
    if name.startswith(b"/"):
        return "absolute paths are not allowed in a layer"
    parts = [part for part in name.split(b"/") if part and part != b"."]
    if b".." in parts:
        return "'..' is not allowed in a layer path"
    return parts


class _Applier:
    def __init__(
        self,
        root_fd: int,
        style: Style,
        lowers: Sequence[str | os.PathLike[str]],
        id_map: IdMapper | None,
        ops: FsOps,
        layer: str,
        opaque_xattr: bytes = OPAQUE_XATTR,
        *,
        writers: bool = False,
    ) -> None:
        self.root_fd = root_fd
        self.writers: ThreadPoolExecutor | None = None
        # None: no writer threads; else the in-line write times still to judge them by
        self.probe: list[float] | None = [] if writers else None
        # path -> its write in flight; everything that could see or touch that path (or a
        # tree holding it) waits for it first
        self.pending: dict[bytes, Future[None]] = {}
        self.overlay = style is Style.OVERLAY
        self.opaque_xattr = opaque_xattr
        roots = [os.fsencode(os.path.abspath(lower)) for lower in lowers]
        self.lower = _LowerView(roots, ops, opaque_xattr) if self.overlay and roots else None
        self.id_map = id_map
        self.ops = ops
        self.layer = layer
        self.fds: OrderedDict[bytes, int] = OrderedDict()  # open directories (not the root)
        self.created: set[bytes] = set()  # paths this layer added
        self.created_dirs: set[bytes] = set()  # ancestors of those
        self.whiteouts: set[bytes] = set()  # overlay: whiteout nodes this layer made
        self.opaque: set[bytes] = set()  # overlay: directories this layer made opaque
        self.deferred: dict[bytes, tuple[int, int | None]] = {}  # dir -> (mode, mtime_ns)
        self.warnings: list[str] = []
        self.entries = 0
        self.privileged = os.geteuid() == 0

    def refuse(self, name: bytes, reason: str, hint: str | None = None) -> LayerRefused:
        return LayerRefused(self.layer, display(name), reason, hint=hint)

    def close(self) -> None:
        if self.writers is not None:
            self.writers.shutdown(wait=True)  # nothing may write into a tree being dropped
            self.pending.clear()
        for fd in self.fds.values():
            os.close(fd)
        self.fds.clear()

    # -- writes in flight -----------------------------------------------------------------

    def _judge(self, seconds: float) -> None:
        assert self.probe is not None
        self.probe.append(seconds)
        if len(self.probe) < _PROBE_FILES:
            return
        import statistics

        if statistics.median(self.probe) >= _SLOW_CREATE:
            from concurrent.futures import ThreadPoolExecutor

            self.writers = ThreadPoolExecutor(_WRITERS, thread_name_prefix="capsa-unpack")
        self.probe = None

    def _settle(self, path: bytes) -> None:
        future = self.pending.pop(path, None)
        if future is not None:
            future.result()

    def _settle_all(self) -> None:
        pending, self.pending = self.pending, {}
        for future in pending.values():
            future.result()

    def _write_later(
        self,
        entry: TarEntry,
        parent: int,
        base: bytes,
        path: bytes,
        data: Iterator[memoryview],
        uid: int,
        gid: int,
        mode: int,
    ) -> None:
        assert self.writers is not None
        if len(self.pending) >= _MAX_PENDING:
            done = [p for p, f in self.pending.items() if f.done()]
            for each in done or [next(iter(self.pending))]:  # else wait for the oldest
                self._settle(each)
        content = b"".join(data)
        # a descriptor of its own: the directory cache may close the shared one meanwhile
        directory = os.dup(parent)

        def write() -> None:
            try:
                self._regular(entry, directory, base, iter((memoryview(content),)), uid, gid, mode)
            except OSError as error:
                raise _os_error(self.layer, entry, error) from error
            finally:
                os.close(directory)

        self.pending[path] = self.writers.submit(write)

    # -- entries ----------------------------------------------------------------------

    def apply(self, entry: TarEntry, data: Iterator[memoryview]) -> None:
        self.entries += 1
        self._trim()
        parts = _clean(entry.name)
        if isinstance(parts, str):
            raise self.refuse(entry.name, parts)
        if not parts:
            self._settle_all()
            self._root(entry)
            return
        if parts[-1].startswith(WHITEOUT_PREFIX):
            self._settle_all()  # whiteouts remove trees
            self._whiteout(entry, parts)
            return
        kind = entry.type
        if not (kind in REGULAR_TYPES or kind in _NODE_TYPES):
            raise self.refuse(entry.name, f"unsupported tar entry type {kind!r}")
        path = b"/".join(parts)
        if self.pending:
            # what is in flight at this path or above it (a file a later entry treats as
            # a directory) is written first
            for depth in range(1, len(parts) + 1):
                self._settle(b"/".join(parts[:depth]))
        parent = self._dir(parts[:-1], entry.name)
        assert parent is not None
        base = parts[-1]
        if kind == HARDLINK:
            if self.pending:
                self._settle_all()  # its target may be in flight
            self._hardlink(entry, parent, base, path)
            self._created(path)
            return
        uid, gid = self._owner(entry)
        existing = self._lstat(parent, base)
        over_whiteout = path in self.whiteouts
        if existing is not None and not (kind == DIRECTORY and existing.is_dir):
            if existing.is_dir and self.pending:
                self._settle_all()  # a tree about to go may have writes in flight
            self._remove(parent, base, path, existing)
        mode = entry.mode & 0o7777
        if kind in REGULAR_TYPES and self.writers is not None and entry.size <= _SMALL_FILE:
            self._write_later(entry, parent, base, path, data, uid, gid, mode)
        elif kind in REGULAR_TYPES and self.probe is not None and entry.size <= _SMALL_FILE:
            started = time.perf_counter()
            self._regular(entry, parent, base, data, uid, gid, mode)
            self._judge(time.perf_counter() - started)
        elif kind in REGULAR_TYPES:
            self._regular(entry, parent, base, data, uid, gid, mode)
        elif kind == DIRECTORY:
            if existing is None or not existing.is_dir:
                os.mkdir(base, 0o700, dir_fd=parent)
            self.ops.chown(parent, base, uid, gid)
            self._xattrs(entry, lambda a, v: self.ops.setxattr(parent, base, a, v))
            self.deferred.pop(path, None)
            self.deferred[path] = (mode, entry.mtime_ns)
            if over_whiteout:
                # a directory over a whiteout of this layer: lower content stays hidden
                self._set_opaque(parent, base, path)
        elif kind == SYMLINK:
            os.symlink(entry.linkname, base, dir_fd=parent)
            self.ops.chown(parent, base, uid, gid)
            self._xattrs(entry, lambda a, v: self.ops.setxattr(parent, base, a, v))
            os.utime(
                base, ns=(entry.mtime_ns, entry.mtime_ns), dir_fd=parent, follow_symlinks=False
            )
        else:
            if not self._node(entry, parent, base, mode):
                return
            self.ops.chown(parent, base, uid, gid)
            chmod_nofollow(parent, base, mode)
            self._xattrs(entry, lambda a, v: self.ops.setxattr(parent, base, a, v))
            os.utime(
                base, ns=(entry.mtime_ns, entry.mtime_ns), dir_fd=parent, follow_symlinks=False
            )
        self._created(path)

    def _regular(
        self,
        entry: TarEntry,
        parent: int,
        base: bytes,
        data: Iterator[memoryview],
        uid: int,
        gid: int,
        mode: int,
    ) -> None:
        fd = os.open(base, _FILE_FLAGS, 0o600, dir_fd=parent)
        try:
            for piece in data:
                while piece:
                    piece = piece[os.write(fd, piece) :]
            self.ops.fchown(fd, uid, gid)  # before chmod: chown clears setuid
            os.fchmod(fd, mode)
            # after chown and the data: both clear security.capability
            self._xattrs(entry, lambda a, v: self.ops.fsetxattr(fd, a, v))
            os.utime(fd, ns=(entry.mtime_ns, entry.mtime_ns))
        finally:
            os.close(fd)

    def _node(self, entry: TarEntry, parent: int, base: bytes, mode: int) -> bool:
        if entry.type == FIFO:
            os.mkfifo(base, 0o600, dir_fd=parent)
            return True
        kind = stat.S_IFCHR if entry.type == CHAR else stat.S_IFBLK
        try:
            self.ops.mknod(parent, base, kind | 0o600, os.makedev(entry.devmajor, entry.devminor))
        except PermissionError:
            if self.privileged:
                raise
            self.warnings.append(
                f"{display(entry.name)}: device node skipped (creating one needs root)"
            )
            return False
        return True

    def _hardlink(self, entry: TarEntry, parent: int, base: bytes, path: bytes) -> None:
        target = _clean(entry.linkname)
        if isinstance(target, str):
            raise self.refuse(entry.name, f"hard link target {display(entry.linkname)!r}: {target}")
        if not target:
            raise self.refuse(entry.name, "a hard link to the layer root is not allowed")
        target_path = b"/".join(target)
        if target_path == path:
            raise self.refuse(entry.name, "a hard link to itself is not allowed")
        existing = self._lstat(parent, base)
        if existing is not None:
            self._remove(parent, base, path, existing)
        if target_path not in self.created:
            raise self.refuse(
                entry.name,
                f"hard link target {display(target_path)!r} is not an earlier entry of this layer",
                hint="a layer may only link to files it contains itself",
            )
        target_parent = self._dir(target[:-1], entry.name, create=False)
        if target_parent is None:
            raise self.refuse(
                entry.name, f"hard link target {display(target_path)!r} no longer exists"
            )
        st = self._lstat(target_parent, target[-1])
        if st is None:
            raise self.refuse(
                entry.name, f"hard link target {display(target_path)!r} no longer exists"
            )
        if st.is_dir:
            raise self.refuse(entry.name, "a hard link to a directory is not allowed")
        os.link(
            target[-1], base, src_dir_fd=target_parent, dst_dir_fd=parent, follow_symlinks=False
        )

    def _root(self, entry: TarEntry) -> None:
        if entry.type != DIRECTORY:
            raise self.refuse(entry.name, "the layer root must be a directory")
        uid, gid = self._owner(entry)
        self.ops.fchown(self.root_fd, uid, gid)
        self._xattrs(entry, lambda a, v: self.ops.fsetxattr(self.root_fd, a, v))
        self.deferred.pop(b"", None)
        self.deferred[b""] = (entry.mode & 0o7777, entry.mtime_ns)

    # -- whiteouts ----------------------------------------------------------------------

    def _whiteout(self, entry: TarEntry, parts: list[bytes]) -> None:
        base = parts[-1]
        dir_parts = parts[:-1]
        if base == OPAQUE_MARKER:
            fd = self._dir(dir_parts, entry.name)
            assert fd is not None
            dir_path = b"/".join(dir_parts)
            if self.overlay:
                self.ops.fsetxattr(fd, self.opaque_xattr, b"y")
                self.opaque.add(dir_path)
            else:
                self._clear_lower(fd, dir_path)
            return
        if base.startswith(WHITEOUT_PREFIX + WHITEOUT_PREFIX):
            return  # AUFS bookkeeping (.wh..wh.plnk, .wh..wh.aufs), not content
        name = base[len(WHITEOUT_PREFIX) :]
        if name in (b".", b".."):
            raise self.refuse(entry.name, "a whiteout of '.' or '..' is not allowed")
        parent = self._dir(dir_parts, entry.name)
        assert parent is not None
        path = b"/".join([*dir_parts, name])
        existing = self._lstat(parent, name)
        if path in self.created or path in self.created_dirs:
            # what this layer adds stays; only what the lower layers had there goes
            if existing is not None and existing.is_dir:
                if self.overlay:
                    self._set_opaque(parent, name, path)
                else:
                    fd = os.open(name, _DIR_FLAGS, dir_fd=parent)
                    try:
                        self._clear_lower(fd, path)
                    finally:
                        os.close(fd)
            return
        if existing is not None:
            self._remove(parent, name, path, existing)
        if self.overlay:
            self.ops.mknod(parent, name, stat.S_IFCHR, 0)
            self.whiteouts.add(path)

    def _clear_lower(self, fd: int, dir_path: bytes) -> None:
        """Apply style: delete what a directory holds from lower layers, keeping what
        this layer added."""
        with os.scandir(fd) as scan:
            names = [os.fsencode(item.name) for item in scan]
        for name in names:
            path = dir_path + b"/" + name if dir_path else name
            if path in self.created_dirs:
                child = os.open(name, _DIR_FLAGS, dir_fd=fd)
                try:
                    self._clear_lower(child, path)
                finally:
                    os.close(child)
            elif path not in self.created:
                st = self._lstat(fd, name)
                if st is not None:
                    self._remove(fd, name, path, st)
            else:
                st = self._lstat(fd, name)
                if st is not None and st.is_dir:
                    child = os.open(name, _DIR_FLAGS, dir_fd=fd)
                    try:
                        self._clear_lower(child, path)
                    finally:
                        os.close(child)

    def _set_opaque(self, parent: int, name: bytes, path: bytes) -> None:
        self.ops.setxattr(parent, name, self.opaque_xattr, b"y")
        self.opaque.add(path)

    # -- directories --------------------------------------------------------------------

    def _dir(self, parts: Sequence[bytes], entry_name: bytes, create: bool = True) -> int | None:
        """A descriptor of the directory at `parts`, walked one component at a time with
        O_NOFOLLOW; missing directories are made when `create`."""
        if not parts:
            return self.root_fd
        key = b"/".join(parts)
        fd = self.fds.get(key)
        if fd is not None:
            self.fds.move_to_end(key)
            return fd
        known = len(parts) - 1
        while known and b"/".join(parts[:known]) not in self.fds:
            known -= 1
        fd = self.fds[b"/".join(parts[:known])] if known else self.root_fd
        for depth in range(known + 1, len(parts) + 1):
            child = self._open_dir(fd, parts[:depth], entry_name, create)
            if child is None:
                return None
            self.fds[b"/".join(parts[:depth])] = child
            fd = child
        return fd

    def _open_dir(
        self, parent: int, parts: Sequence[bytes], entry_name: bytes, create: bool
    ) -> int | None:
        name = parts[-1]
        prefix = b"/".join(parts)
        try:
            return os.open(name, _DIR_FLAGS, dir_fd=parent)
        except FileNotFoundError:
            if not create:
                return None
            self._implicit_dir(parent, parts, entry_name)
        except OSError as error:
            if not create:
                return None
            if error.errno not in (errno.ELOOP, errno.ENOTDIR):
                raise
            existing = self._lstat(parent, name)
            if existing is not None and existing.is_symlink:
                raise self.refuse(
                    entry_name,
                    f"its parent {display(prefix)!r} is a symlink: "
                    "a layer may not write through a symlink",
                ) from None
            if not (self.overlay and prefix in self.whiteouts):
                raise self.refuse(
                    entry_name, f"its parent {display(prefix)!r} is not a directory"
                ) from None
            # this layer whited the path out and now puts a directory there
            os.unlink(name, dir_fd=parent)
            self.whiteouts.discard(prefix)
            self._implicit_dir(parent, parts, entry_name, hide_lower=True)
        return os.open(name, _DIR_FLAGS, dir_fd=parent)

    def _implicit_dir(
        self, parent: int, parts: Sequence[bytes], entry_name: bytes, hide_lower: bool = False
    ) -> None:
        """A parent directory the layer does not list: as the lower layers have it (so the
        merged view does not change), else 0755 owned by root."""
        name = parts[-1]
        prefix = b"/".join(parts)
        mode = 0o755
        uid, gid = self._map_owner(0, 0, entry_name)
        mtime: int | None = None
        xattrs: dict[bytes, bytes] = {}
        if self.lower is not None and not hide_lower and not self._under_opaque(parts):
            kind, st = self.lower.lookup(parts)
            if kind == _SYMLINK:
                raise self.refuse(
                    entry_name,
                    f"its parent {display(prefix)!r} is a symlink in a lower layer: "
                    "a layer may not write through a symlink",
                )
            if kind == _OTHER:
                raise self.refuse(
                    entry_name,
                    f"its parent {display(prefix)!r} is not a directory in a lower layer",
                )
            if kind == _DIR and st is not None:
                mode, uid, gid, mtime = stat.S_IMODE(st.mode), st.uid, st.gid, st.mtime_ns
                xattrs = self.lower.xattrs(parts)
        os.mkdir(name, 0o700, dir_fd=parent)
        self.ops.chown(parent, name, uid, gid)
        for attr, value in xattrs.items():
            self.ops.setxattr(parent, name, attr, value)
        if hide_lower:
            self._set_opaque(parent, name, prefix)
        self.deferred.setdefault(prefix, (mode, mtime))

    def _under_opaque(self, parts: Sequence[bytes]) -> bool:
        if not self.opaque:
            return False
        return any(b"/".join(parts[:depth]) in self.opaque for depth in range(len(parts)))

    def _trim(self) -> None:
        while len(self.fds) > _FD_CACHE:
            _, fd = self.fds.popitem(last=False)
            os.close(fd)

    def _forget(self, path: bytes) -> None:
        below = path + b"/"
        for key in [key for key in self.fds if key == path or key.startswith(below)]:
            os.close(self.fds.pop(key))

    # -- helpers ------------------------------------------------------------------------

    def _lstat(self, dir_fd: int, name: bytes) -> Stat | None:
        try:
            return self.ops.lstat(dir_fd, name)
        except FileNotFoundError:
            return None

    def _remove(self, parent: int, name: bytes, path: bytes, st: Stat) -> None:
        if st.is_dir:
            self._forget(path)
            remove_tree_at(parent, name)
            below = path + b"/"
            if path in self.created_dirs:
                self.created = {p for p in self.created if not p.startswith(below)}
                self.created_dirs = {p for p in self.created_dirs if not p.startswith(below)}
            if self.whiteouts:
                self.whiteouts = {p for p in self.whiteouts if not p.startswith(below)}
            if self.opaque:
                self.opaque = {p for p in self.opaque if p != path and not p.startswith(below)}
            for key in [k for k in self.deferred if k == path or k.startswith(below)]:
                del self.deferred[key]
        else:
            os.unlink(name, dir_fd=parent)
        self.created.discard(path)
        self.created_dirs.discard(path)
        self.whiteouts.discard(path)

    def _created(self, path: bytes) -> None:
        self.created.add(path)
        parent = path.rpartition(b"/")[0]
        while parent and parent not in self.created_dirs:
            self.created_dirs.add(parent)
            parent = parent.rpartition(b"/")[0]

    def _owner(self, entry: TarEntry) -> tuple[int, int]:
        return self._map_owner(entry.uid, entry.gid, entry.name)

    def _map_owner(self, uid: int, gid: int, entry_name: bytes) -> tuple[int, int]:
        if self.id_map is None:
            return uid, gid
        try:
            return self.id_map(uid, gid)
        except InvalidArgument as error:
            raise self.refuse(entry_name, error.message, hint=error.hint) from None

    def _xattrs(self, entry: TarEntry, setter: Callable[[bytes, bytes], None]) -> None:
        for attr, value in entry.xattrs.items():
            if attr.startswith(_OVERLAY_XATTRS):
                self.warnings.append(
                    f"{display(entry.name)}: xattr {display(attr)} dropped (overlayfs internal)"
                )
                continue
            try:
                setter(attr, value)
            except OSError as error:
                unsupported = error.errno in (errno.ENOTSUP, errno.EOPNOTSUPP)
                denied = error.errno == errno.EPERM and (
                    not self.privileged or attr.startswith(b"user.")
                )
                if not (unsupported or denied):
                    raise
                self.warnings.append(
                    f"{display(entry.name)}: xattr {display(attr)} not set ({error.strerror})"
                )

    def finish(self) -> None:
        """Directory modes and times, last: adding entries changes a directory's mtime,
        and a read-only mode would stop an unprivileged unpack from adding them."""
        self._settle_all()
        for path, (mode, mtime) in self.deferred.items():
            self._trim()
            parts = path.split(b"/") if path else []
            fd = self._dir(parts, path, create=False)
            if fd is None:
                continue  # replaced or removed later in the layer
            os.fchmod(fd, mode)
            if mtime is not None:
                os.utime(fd, ns=(mtime, mtime))


_NODE_TYPES = frozenset({HARDLINK, SYMLINK, CHAR, BLOCKDEV, DIRECTORY, FIFO})
