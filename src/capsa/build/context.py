"""The build context: the directory (or tarball, or stdin) COPY and ADD read from, with
the rules of its `.dockerignore`/`.containerignore`, and the content hash that keys the
cache of a step reading it.

A tarball context is unpacked into a temporary directory with the store's layer
unpacker, which refuses paths that would land outside it; the directory goes with
`close()`.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import stat
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import IO

from capsa.build.ignore import IgnoreRules, name_matcher, read_ignore_file
from capsa.errors import InvalidArgument, NotFound

_CHUNK = 1 << 20
Hide = Callable[[str], bool] | None


@dataclass(frozen=True)
class Source:
    """One path a COPY/ADD source pattern matched: `relative` to the root it was found
    in ("." for the root itself)."""

    relative: str
    is_dir: bool
    kept: str = ""  # COPY --parents: the path kept under the destination ("" = relative)


class BuildContext:
    def __init__(self, root: str, *, dockerfile: str | None = None, temporary: bool = False):
        self.root = os.path.abspath(root)
        self._temporary = temporary
        if not os.path.isdir(self.root):
            raise NotFound(f"build context {root}: no such directory")
        self.rules: IgnoreRules = read_ignore_file(self.root, dockerfile)

    @classmethod
    def from_tar(cls, stream: IO[bytes], *, dockerfile: str | None = None) -> BuildContext:
        """A context sent as a tar (plain or compressed), as `docker build - < ctx.tar`."""
        from capsa.store.unpack import apply_layer

        directory = tempfile.mkdtemp(prefix="capsa-build-context-")
        try:
            apply_layer(stream, directory, layer="the build context", threaded=False)
        except BaseException:
            shutil.rmtree(directory, ignore_errors=True)
            raise
        return cls(directory, dockerfile=dockerfile, temporary=True)

    def close(self) -> None:
        if self._temporary:
            shutil.rmtree(self.root, ignore_errors=True)

    def ignored(self, relative: str) -> bool:
        return relative not in ("", ".") and self.rules.ignored(relative)


def destination_path(dest: str, workdir: str) -> tuple[str, bool]:
    """The absolute destination, and whether it names a directory by its form."""
    as_dir = dest.endswith("/") or dest.endswith("/.") or dest in (".", "..")
    absolute = dest if dest.startswith("/") else os.path.join(workdir or "/", dest)
    return os.path.normpath(absolute), as_dir


def clean_source(pattern: str) -> str:
    """A source as Docker cleans it: relative to its root, no `..` above it."""
    parts: list[str] = []
    for part in pattern.replace("\\", "/").split("/"):
        if part in ("", "."):
            continue
        if part == "..":
            if parts:
                parts.pop()
            continue
        parts.append(part)
    return "/".join(parts) or "."


def has_glob(pattern: str) -> bool:
    return any(char in pattern for char in "*?[")


def match_sources(
    root: str,
    pattern: str,
    *,
    hide: Hide = None,
    what: str = "build context",
) -> list[Source]:
    """The paths under `root` that `pattern` names (a path or a glob, each part matched
    on its own as Go's filepath.Match does), never following a symlink out: the walk
    stays in `root`. `hide(relative)` hides paths (the ignore file's rules)."""
    cleaned = clean_source(pattern)
    if cleaned == ".":
        return [Source(".", True)]
    if not has_glob(cleaned):
        path = os.path.join(root, cleaned)
        if not _inside(root, path) or (hide is not None and hide(cleaned)):
            raise _missing(pattern, what)
        try:
            st = os.stat(path) if _inside_resolved(root, path) else os.lstat(path)
        except FileNotFoundError:
            raise _missing(pattern, what) from None
        return [Source(cleaned, stat.S_ISDIR(st.st_mode))]
    found: list[Source] = []
    parts = cleaned.split("/")
    try:
        matchers = [name_matcher(part) for part in parts]  # Go's rules, not fnmatch's
    except InvalidArgument:
        raise InvalidArgument(
            f"{pattern}: not a valid pattern (Go's filepath.Match rules)",
            hint="close each [ with ], or match a literal [ with [[]",
        ) from None

    def walk(directory: str, relative: str, index: int) -> None:
        try:
            names = sorted(os.listdir(directory))
        except OSError:
            return
        for name in names:
            if not matchers[index](name):
                continue
            child_relative = f"{relative}/{name}" if relative else name
            if hide is not None and hide(child_relative):
                continue
            child = os.path.join(directory, name)
            if index == len(parts) - 1:  # a match: a link to a directory in root is one
                is_dir = os.path.isdir(source_path(root, child_relative))
                found.append(Source(child_relative, is_dir))
            elif os.path.isdir(child) and not os.path.islink(child):
                walk(child, child_relative, index + 1)

    walk(root, "", 0)
    if not found:
        raise _missing(pattern, what)
    return found


def _missing(pattern: str, what: str) -> NotFound:
    return NotFound(
        f"{pattern}: no such file or directory in the {what}",
        hint="check the path, and that .dockerignore does not exclude it",
    )


def _inside(root: str, path: str) -> bool:
    return os.path.commonpath([root, os.path.abspath(path)]) == root


def _inside_resolved(root: str, path: str) -> bool:
    return _inside(os.path.realpath(root), os.path.realpath(path))


def source_path(root: str, relative: str) -> str:
    """The path COPY reads for the source `relative`: a symbolic link that leads to a
    path inside `root` is followed (BuildKit's FollowSymlinks), one leading out is not."""
    path = root if relative == "." else os.path.join(root, relative)
    if os.path.islink(path) and _inside_resolved(root, path):
        return os.path.realpath(path)
    return path


def walk_files(root: str, relative: str, hide: Hide = None) -> Iterator[tuple[str, os.stat_result]]:
    """Every path at and below the source `relative` (sorted, parents first), with its
    lstat; the source itself is followed as `source_path` says, the paths below are not."""
    start = source_path(root, relative)
    st = os.lstat(start)
    yield relative, st
    if stat.S_ISDIR(st.st_mode):
        yield from _walk_below(root, relative, start, hide)


def _walk_below(
    root: str, relative: str, directory: str, hide: Hide
) -> Iterator[tuple[str, os.stat_result]]:
    for name in sorted(os.listdir(directory)):
        child = name if relative == "." else f"{relative}/{name}"
        if hide is not None and hide(child):
            continue
        path = os.path.join(directory, name)
        st = os.lstat(path)
        yield child, st
        if stat.S_ISDIR(st.st_mode):
            yield from _walk_below(root, child, path, hide)


def content_hash(
    root: str, sources: list[Source], hide: Hide = None, *, owners: bool = False
) -> str:
    """What COPY reads, as one digest: names, types, permission bits, link targets and
    file contents; owners too when they are copied as they are (`owners`: COPY --from
    without --chown). Times are not copied, so they do not count."""
    digest = hashlib.sha256()
    for source in sources:
        for relative, st in walk_files(root, source.relative, hide):
            if relative == source.relative:
                path = source_path(root, relative)
            else:
                path = os.path.join(root, relative)
            kind = stat.S_IFMT(st.st_mode)
            digest.update(f"{relative}\0{kind:o}\0{stat.S_IMODE(st.st_mode):o}\0".encode())
            if owners:
                digest.update(f"{st.st_uid}:{st.st_gid}\0".encode())
            if stat.S_ISLNK(st.st_mode):
                digest.update(os.readlink(path).encode() + b"\0")
            elif stat.S_ISREG(st.st_mode):
                digest.update(f"{st.st_size}\0".encode())
                with open(path, "rb") as file:
                    while chunk := file.read(_CHUNK):
                        digest.update(chunk)
            elif not stat.S_ISDIR(st.st_mode):
                raise InvalidArgument(
                    f"cannot copy {relative} from the build context: not a regular file, "
                    "directory or symbolic link"
                )
    return digest.hexdigest()
