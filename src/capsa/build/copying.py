"""COPY and ADD into a working container's root, with Docker's rules:

- the destination is relative to WORKDIR; it is a directory when it ends with `/`, when
  several sources are copied, or when it already is one;
- a directory source copies its contents (not itself); with `--parents`, each source
  keeps its path (after a `/./` in it, BuildKit's pivot);
- what is copied from the build context is owned by root (or `--chown`); from a stage
  or an image (`--from`) it keeps its owners unless `--chown` is given (Docker and
  BuildKit do so since moby#38599, buildah too); it keeps its permission bits (or
  `--chmod`) and mtime; missing parent directories are made (owned by root or the
  `--chown` owner);
- ADD extracts a local tar archive (plain, gzip, bzip2, xz or zstd) into the destination.

Every path is created through a directory opened inside the root (openat2
RESOLVE_IN_ROOT), so a symbolic link in the image can never lead a copy outside it.
"""

from __future__ import annotations

import contextlib
import errno
import os
import stat
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import IO

from capsa.build.context import Source, source_path, walk_files
from capsa.errors import InvalidArgument, NotFound
from capsa.kernel.paths import open_in_root, try_open_in_root

_DIR = os.O_RDONLY | os.O_DIRECTORY


@dataclass(frozen=True)
class CopyOptions:
    uid: int = 0
    gid: int = 0
    keep_owners: bool = False  # each copied path keeps its source's uid:gid
    chmod: int | None = None
    parents: bool = False
    hide: Callable[[str], bool] | None = None  # excluded paths (ignore file, --exclude)


class RootWriter:
    """Writes into the tree at `rootfs`, each path resolved inside it."""

    def __init__(self, rootfs: str) -> None:
        self.root_fd = os.open(rootfs, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)

    def close(self) -> None:
        os.close(self.root_fd)

    def __enter__(self) -> RootWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def kind(self, path: str) -> int | None:
        """The file type at `path` (following links inside the root), None if missing."""
        fd = try_open_in_root(self.root_fd, path, os.O_PATH)
        if fd < 0:
            return None
        try:
            return stat.S_IFMT(os.fstat(fd).st_mode)
        finally:
            os.close(fd)

    def make_dirs(self, path: str, uid: int, gid: int) -> None:
        """mkdir -p inside the root; new directories 0755 owned by uid:gid."""
        current = "/"
        for part in [p for p in path.split("/") if p]:
            parent_fd = open_in_root(self.root_fd, current, _DIR)
            try:
                try:
                    os.mkdir(part, 0o755, dir_fd=parent_fd)
                    os.chown(part, uid, gid, dir_fd=parent_fd, follow_symlinks=False)
                except FileExistsError:
                    pass
            finally:
                os.close(parent_fd)
            current = os.path.join(current, part)
            if self.kind(current) != stat.S_IFDIR:
                raise InvalidArgument(
                    f"cannot copy to {path}: {current} is not a directory in the image"
                )

    def open_dir(self, path: str) -> int:
        return open_in_root(self.root_fd, path, _DIR)


def copy_sources(
    writer: RootWriter,
    source_root: str,
    sources: Sequence[Source],
    dest: str,
    dest_is_dir: bool,
    options: CopyOptions,
) -> None:
    """Copy `sources` (found under `source_root`) to `dest` in the root."""
    into_dir = dest_is_dir or len(sources) > 1 or writer.kind(dest) == stat.S_IFDIR
    if not into_dir and sources[0].is_dir:
        into_dir = True  # a directory's contents go into dest, made as a directory
    for source in sources:
        if options.parents:  # the source's own path is kept under dest
            target = os.path.join(dest, source.kept or source.relative)
            if source.is_dir:
                _copy_tree(writer, source_root, source.relative, target, options)
            else:
                writer.make_dirs(os.path.dirname(target), options.uid, options.gid)
                _copy_entry(writer, source_root, source.relative, target, options, top=True)
            continue
        if source.is_dir:
            _copy_tree(writer, source_root, source.relative, dest, options)
        elif into_dir:
            writer.make_dirs(dest, options.uid, options.gid)
            target = os.path.join(dest, os.path.basename(source.relative))
            _copy_entry(writer, source_root, source.relative, target, options, top=True)
        else:
            writer.make_dirs(os.path.dirname(dest) or "/", options.uid, options.gid)
            _copy_entry(writer, source_root, source.relative, dest, options, top=True)


def _copy_tree(
    writer: RootWriter, source_root: str, relative: str, dest: str, options: CopyOptions
) -> None:
    """The contents of directory `relative` into directory `dest` (made if missing)."""
    writer.make_dirs(dest, options.uid, options.gid)
    prefix = "" if relative == "." else relative + "/"
    for path, st in walk_files(source_root, relative, options.hide):
        if path == relative:
            _set_attributes(writer, st, dest, options)
            continue
        inner = path[len(prefix) :] if prefix else path
        _copy_entry(writer, source_root, path, os.path.join(dest, inner), options)


def _copy_entry(
    writer: RootWriter,
    source_root: str,
    relative: str,
    target: str,
    options: CopyOptions,
    *,
    top: bool = False,
) -> None:
    """One file, directory (itself only) or symlink at `target` in the root; a source
    named by COPY itself (`top`) is followed as `source_path` says."""
    if top:
        source = source_path(source_root, relative)
    else:
        source = source_root if relative == "." else os.path.join(source_root, relative)
    st = os.lstat(source)
    parent, name = os.path.split(target)
    if not name:
        return
    parent_fd = writer.open_dir(parent or "/")
    try:
        existing = _lstat_at(parent_fd, name)
        if stat.S_ISDIR(st.st_mode):
            if existing is None:
                os.mkdir(name, 0o755, dir_fd=parent_fd)
            elif not stat.S_ISDIR(existing.st_mode):
                raise InvalidArgument(
                    f"cannot copy directory {relative} to {target}: a file is there in the image"
                )
        else:
            if existing is not None:
                if stat.S_ISDIR(existing.st_mode):
                    raise InvalidArgument(
                        f"cannot copy {relative} to {target}: a directory is there in the image"
                    )
                os.unlink(name, dir_fd=parent_fd)
            if stat.S_ISLNK(st.st_mode):
                os.symlink(os.readlink(source), name, dir_fd=parent_fd)
            elif stat.S_ISREG(st.st_mode):
                _copy_file(source, parent_fd, name)
            else:
                raise InvalidArgument(f"cannot copy {relative}: not a file, directory or link")
        _apply(parent_fd, name, st, options)
    finally:
        os.close(parent_fd)


def _set_attributes(
    writer: RootWriter, st: os.stat_result, target: str, options: CopyOptions
) -> None:
    parent, name = os.path.split(os.path.normpath(target))
    if not name:
        return  # the root keeps its own
    parent_fd = writer.open_dir(parent or "/")
    try:
        _apply(parent_fd, name, st, options)
    finally:
        os.close(parent_fd)


def _apply(parent_fd: int, name: str, st: os.stat_result, options: CopyOptions) -> None:
    uid, gid = (st.st_uid, st.st_gid) if options.keep_owners else (options.uid, options.gid)
    os.chown(name, uid, gid, dir_fd=parent_fd, follow_symlinks=False)
    if not stat.S_ISLNK(st.st_mode):
        mode = options.chmod if options.chmod is not None else stat.S_IMODE(st.st_mode)
        os.chmod(name, mode, dir_fd=parent_fd)
    os.utime(name, ns=(st.st_mtime_ns, st.st_mtime_ns), dir_fd=parent_fd, follow_symlinks=False)


def _lstat_at(dir_fd: int, name: str) -> os.stat_result | None:
    try:
        return os.lstat(name, dir_fd=dir_fd)
    except FileNotFoundError:
        return None


def _copy_file(source: str, parent_fd: int, name: str) -> None:
    src = os.open(source, os.O_RDONLY | os.O_CLOEXEC | os.O_NOFOLLOW)
    try:
        dst = os.open(
            name, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600, dir_fd=parent_fd
        )
        try:
            size = os.fstat(src).st_size
            copied = 0
            while copied < size:
                try:
                    n = os.copy_file_range(src, dst, size - copied)
                except OSError as exc:
                    if exc.errno not in (errno.EXDEV, errno.ENOSYS, errno.EOPNOTSUPP, errno.EINVAL):
                        raise
                    n = os.sendfile(dst, src, None, size - copied)
                if n == 0:
                    break
                copied += n
        finally:
            os.close(dst)
    finally:
        os.close(src)


# -- ADD's archives -------------------------------------------------------------------

_ARCHIVE_MAGIC = (
    (b"\x1f\x8b", "gzip"),
    (b"BZh", "bzip2"),
    (b"\xfd7zXZ\x00", "xz"),
    (b"\x28\xb5\x2f\xfd", "zstd"),
)


def archive_kind(path: str) -> str | None:
    """gzip, bzip2, xz, zstd or tar when `path` is a tar archive ADD extracts; None
    when it is copied as a file."""
    try:
        with open(path, "rb") as f:
            head = f.read(512)
    except OSError:
        return None
    return archive_kind_of(head)


def archive_kind_of(head: bytes) -> str | None:
    """archive_kind() of the first 512 bytes of a file."""
    for magic, kind in _ARCHIVE_MAGIC:
        if head.startswith(magic):
            return kind
    if len(head) >= 262 and head[257:262] == b"ustar":
        return "tar"
    return None


def extract_archive(
    writer: RootWriter, path: str, kind: str, dest: str, uid: int, gid: int
) -> None:
    """ADD of a local archive: its contents into directory `dest` of the root, owners as
    the archive says (Docker keeps them), safely (the store's layer unpacker)."""
    import bz2
    import lzma

    from capsa.store.unpack import apply_layer

    writer.make_dirs(dest, uid, gid)
    dest_fd = writer.open_dir(dest)
    try:
        # Nothing runs in the container during the copy, so the path of the directory
        # found inside the root stays what it is.
        real = os.readlink(f"/proc/self/fd/{dest_fd}")
    finally:
        os.close(dest_fd)
    with contextlib.ExitStack() as stack:
        raw = stack.enter_context(open(path, "rb"))
        stream: IO[bytes] = raw
        if kind == "bzip2":
            stream = stack.enter_context(bz2.BZ2File(raw))
        elif kind == "xz":
            stream = stack.enter_context(lzma.LZMAFile(raw))
        try:
            apply_layer(stream, real, layer=os.path.basename(path), threaded=False)
        except NotFound:
            raise
        except (OSError, EOFError, lzma.LZMAError) as exc:
            raise InvalidArgument(
                f"ADD {os.path.basename(path)}: cannot extract it: {exc}"
            ) from None
