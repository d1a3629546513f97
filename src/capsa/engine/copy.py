"""`capsa cp`: files between a container and the host, both ways, by Docker's rules.

Where the copy lands is decided by `plan_copy` (pure, from what exists): a file onto
a missing path becomes that path, into a directory keeps its name; a directory onto a
missing path becomes it, into a directory goes inside it, or only its contents with
`SRC/.`. What moves is a tar stream whose names are relative to the destination
directory; `TreeWriter` writes it through directory descriptors with O_NOFOLLOW, and
container paths are resolved with openat2(RESOLVE_IN_ROOT), so no symlink in the
container leads a read or a write outside its root.
"""

from __future__ import annotations

import contextlib
import os
import stat
import tarfile
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from typing import IO, TYPE_CHECKING

from capsa.engine.rootfs_access import mounted_root
from capsa.errors import Conflict, InvalidArgument, NotFound
from capsa.kernel.paths import open_in_root, try_open_in_root

if TYPE_CHECKING:
    from capsa.engine.db import ContainerRecord
    from capsa.engine.engine import Engine

_DIR = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC


# -- arguments and rules -------------------------------------------------------------


def split_copy_arg(text: str) -> tuple[str | None, str]:
    """Docker's splitCpArg: `CONTAINER:PATH`, or a local path (one that starts with /
    or . is always local, so `./a:b` is a file)."""
    if text.startswith(("/", ".")) or ":" not in text:
        return None, text
    container, _, path = text.partition(":")
    return container, path


@dataclass(frozen=True)
class Endpoint:
    exists: bool
    is_dir: bool = False


@dataclass(frozen=True)
class Plan:
    directory: str  # the destination directory the tar's names are relative to
    name: str  # the name the source gets there ("" for its contents)


def plan_copy(src: str, source: Endpoint, dest: str, target: Endpoint) -> Plan:
    """Docker's cp rules (`docker cp` reference): what lands where, or why not."""
    contents = src.endswith("/.") or src == "."
    if src.endswith("/") and not source.is_dir:
        raise InvalidArgument(f"cannot copy {src}: not a directory")
    base = os.path.basename(os.path.normpath(src))
    if target.exists and not target.is_dir:
        if source.is_dir:
            raise InvalidArgument(f"cannot copy a directory to a file: {dest}")
        if dest.endswith("/"):
            raise InvalidArgument(f"cannot copy to {dest}: not a directory")
        return Plan(os.path.dirname(os.path.normpath(dest)) or ".", os.path.basename(dest))
    if target.exists:
        return Plan(dest, "" if source.is_dir and contents else base)
    if not source.is_dir and dest.endswith("/"):
        raise NotFound(f"no such directory: {dest}", hint="the destination directory must exist")
    clean = os.path.normpath(dest)
    return Plan(os.path.dirname(clean) or ".", os.path.basename(clean))


def covering_mount(record: ContainerRecord, path: str) -> str | None:
    """The volume or bind mount of the container at or above `path`, if any."""
    clean = os.path.normpath("/" + path.lstrip("/"))
    for mount in record.spec.mounts:
        target = os.path.normpath(mount.target)
        if clean == target or clean.startswith(target.rstrip("/") + "/"):
            return target
    return None


# -- writing a tar through descriptors ---------------------------------------------------


class TreeWriter:
    """Writes tar members under an open directory, never following a symlink that
    is already there (it is replaced, as tar does)."""

    def __init__(self, dir_fd: int, *, owner: tuple[int, int] | None) -> None:
        self.dir_fd = dir_fd
        self.owner = owner  # None: the members' own uid/gid
        self.directories: list[tuple[int, str, tarfile.TarInfo]] = []

    def _parent(self, parts: list[str]) -> int:
        """An fd of the directory holding parts[-1], made as needed; caller closes it."""
        fd = os.dup(self.dir_fd)
        for part in parts[:-1]:
            try:
                child = os.open(part, _DIR, dir_fd=fd)
            except FileNotFoundError:
                os.mkdir(part, 0o755, dir_fd=fd)
                child = os.open(part, _DIR, dir_fd=fd)
            except OSError:
                os.close(fd)
                where = "/".join(parts)
                raise InvalidArgument(f"cannot copy to {where}: not a directory") from None
            os.close(fd)
            fd = child
        return fd

    def write(self, member: tarfile.TarInfo, data: IO[bytes] | None) -> None:
        parts = [p for p in member.name.split("/") if p not in ("", ".")]
        if not parts:
            return
        if ".." in parts:
            raise InvalidArgument(f"invalid path in the archive: {member.name}")
        parent = self._parent(parts)
        name = parts[-1]
        try:
            self._entry(parent, name, member, data)
        finally:
            os.close(parent)

    def _clear(self, parent: int, name: str, *, keep_dir: bool) -> None:
        try:
            st = os.lstat(name, dir_fd=parent)
        except FileNotFoundError:
            return
        if stat.S_ISDIR(st.st_mode):
            if keep_dir:
                return
            raise InvalidArgument(f"cannot overwrite directory {name} with a non-directory")
        os.unlink(name, dir_fd=parent)

    def _entry(
        self, parent: int, name: str, member: tarfile.TarInfo, data: IO[bytes] | None
    ) -> None:
        mode = member.mode & 0o7777
        if member.isdir():
            self._clear(parent, name, keep_dir=True)
            with contextlib.suppress(FileExistsError):
                os.mkdir(name, 0o700, dir_fd=parent)
        elif member.issym():
            self._clear(parent, name, keep_dir=False)
            os.symlink(member.linkname, name, dir_fd=parent)
        elif member.islnk():
            self._clear(parent, name, keep_dir=False)
            link_parts = [p for p in member.linkname.split("/") if p not in ("", ".")]
            if ".." in link_parts or not link_parts:
                raise InvalidArgument(f"invalid hard link in the archive: {member.linkname}")
            source_parent = self._parent(link_parts)
            try:
                os.link(link_parts[-1], name, src_dir_fd=source_parent, dst_dir_fd=parent,
                        follow_symlinks=False)
            finally:
                os.close(source_parent)
            return
        elif member.isfile():
            self._clear(parent, name, keep_dir=False)
            fd = os.open(name, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC,
                         0o600, dir_fd=parent)
            with os.fdopen(fd, "wb") as out:
                if data is not None:
                    while chunk := data.read(1 << 20):
                        out.write(chunk)
        elif member.ischr() or member.isblk() or member.isfifo():
            self._clear(parent, name, keep_dir=False)
            kind = stat.S_IFIFO
            if member.ischr() or member.isblk():
                kind = stat.S_IFCHR if member.ischr() else stat.S_IFBLK
            device = os.makedev(member.devmajor, member.devminor)
            os.mknod(name, kind | 0o600, device, dir_fd=parent)
        else:
            return
        uid, gid = self.owner if self.owner is not None else (member.uid, member.gid)
        os.chown(name, uid, gid, dir_fd=parent, follow_symlinks=False)
        if not member.issym():
            os.chmod(name, mode, dir_fd=parent)
            os.utime(name, (member.mtime, member.mtime), dir_fd=parent, follow_symlinks=False)
        else:
            with contextlib.suppress(NotImplementedError, OSError):
                os.utime(name, (member.mtime, member.mtime), dir_fd=parent, follow_symlinks=False)


def extract(stream: IO[bytes], dir_fd: int, *, owner: tuple[int, int] | None) -> None:
    writer = TreeWriter(dir_fd, owner=owner)
    try:
        with tarfile.open(fileobj=stream, mode="r|*") as tar:
            for member in tar:
                writer.write(member, tar.extractfile(member) if member.isfile() else None)
    except tarfile.TarError as error:
        raise InvalidArgument(f"the input is not a valid tar archive: {error}") from None
    except OSError as error:
        raise InvalidArgument(
            f"cannot write {error.filename or ''}: {error.strerror or error}"
        ) from None


def tar_of(path: str, plan_name: str, out: IO[bytes]) -> None:
    """`path` as a tar whose names start at `plan_name` (or, when it is "", the
    directory's contents); symlinks inside are stored, not followed."""
    with tarfile.open(fileobj=out, mode="w|", format=tarfile.PAX_FORMAT) as tar:
        if plan_name:
            tar.add(path, arcname=plan_name)
            return
        for child in sorted(os.listdir(path)):
            tar.add(os.path.join(path, child), arcname=child)


# -- inside the container ----------------------------------------------------------------


@contextlib.contextmanager
def _container_root(engine: Engine, record: ContainerRecord) -> Iterator[int]:
    with mounted_root(engine, record) as root:
        fd = os.open(root, _DIR)
        try:
            yield fd
        finally:
            os.close(fd)


def _real_path(root_fd: int, path: str, *, follow: bool) -> str | None:
    """The host path of container `path` resolved inside the root (None: missing);
    without `follow` a final symlink is itself the answer."""
    clean = os.path.normpath("/" + path.lstrip("/"))
    if clean == "/":
        fd = os.dup(root_fd)
        name = ""
    elif follow:
        fd = try_open_in_root(root_fd, clean, os.O_PATH | os.O_CLOEXEC)
        name = ""
    else:
        fd = try_open_in_root(root_fd, os.path.dirname(clean), os.O_PATH | os.O_CLOEXEC)
        name = os.path.basename(clean)
    if fd < 0:
        return None
    try:
        base = os.readlink(f"/proc/self/fd/{fd}")
    finally:
        os.close(fd)
    full = os.path.join(base, name) if name else base
    return full if os.path.lexists(full) else None


def _endpoint(path: str | None) -> Endpoint:
    if path is None:
        return Endpoint(False)
    return Endpoint(True, stat.S_ISDIR(os.stat(path).st_mode) if os.path.exists(path) else False)


def _refuse_mounted(record: ContainerRecord, path: str) -> None:
    target = covering_mount(record, path)
    if target is not None:
        raise Conflict(
            f"cannot copy {path} of container {record.name}: {target} is a volume or bind mount",
            hint="copy to or from the volume's own directory, or through capsa exec",
        )


def copy_from_container(
    engine: Engine, text: str, src: str, dest: str, out: IO[bytes] | None, *, follow: bool
) -> None:
    """Container `src` to local `dest` (or, when `out` is given, a tar to it)."""
    record = engine.find(text)
    _refuse_mounted(record, src)
    with _container_root(engine, record) as root_fd:
        source = _real_path(root_fd, src, follow=follow)
        if source is None:
            raise NotFound(f"could not find the file {src} in container {record.name}")
        source_end = Endpoint(True, os.path.isdir(source) and not os.path.islink(source))
        if out is not None:
            name = "" if source_end.is_dir and src.endswith("/.") else os.path.basename(
                os.path.normpath(src)) or "."
            tar_of(source, name, out)
            return
        local = os.path.abspath(dest) + ("/" if dest.endswith("/") else "")
        target = Endpoint(os.path.exists(local), os.path.isdir(local))
        plan = plan_copy(src, source_end, local, target)
        if not os.path.isdir(plan.directory):
            raise NotFound(f"no such directory: {plan.directory}")
        with tempfile.TemporaryFile() as spool:
            tar_of(source, plan.name, spool)
            spool.seek(0)
            dir_fd = os.open(plan.directory, _DIR)
            try:
                extract(spool, dir_fd, owner=None)
            finally:
                os.close(dir_fd)


def copy_to_container(
    engine: Engine,
    text: str,
    src: str,
    dest: str,
    stream: IO[bytes] | None,
    *,
    follow: bool,
    keep_owner: bool,
) -> None:
    """Local `src` (or, with `stream`, a tar from it) to container `dest`."""
    record = engine.find(text)
    _refuse_mounted(record, dest)
    owner = None if keep_owner else (0, 0)
    with _container_root(engine, record) as root_fd:
        found = _real_path(root_fd, dest, follow=True)
        if stream is not None:
            if found is None or not os.path.isdir(found):
                raise NotFound(f"no such directory: {dest} in container {record.name}",
                               hint="a tar from - goes into an existing directory")
            _extract_in_root(root_fd, dest, stream, owner)
            return
        if not os.path.lexists(src):
            raise NotFound(f"no such file or directory: {src}")
        local = os.path.realpath(src) if follow else os.path.abspath(src)
        source = Endpoint(True, os.path.isdir(local) and not os.path.islink(local))
        target = _endpoint(found)
        plan = plan_copy(src, source, dest, target)
        if _real_path(root_fd, plan.directory, follow=True) is None:
            raise NotFound(f"no such directory: {plan.directory} in container {record.name}")
        with tempfile.TemporaryFile() as spool:
            tar_of(local, plan.name, spool)
            spool.seek(0)
            _extract_in_root(root_fd, plan.directory, spool, owner)


def _extract_in_root(
    root_fd: int, directory: str, stream: IO[bytes], owner: tuple[int, int] | None
) -> None:
    try:
        dir_fd = open_in_root(root_fd, directory, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    except NotADirectoryError:
        raise InvalidArgument(f"cannot copy into {directory}: not a directory") from None
    try:
        extract(stream, dir_fd, owner=owner)
    finally:
        os.close(dir_fd)
