"""The registry's storage directory.

    blobs/<alg>/<hex>                                   content, verified before it lands
    ingest/...                                          uploads in progress (ContentStore)
    repositories/<name>/_layers/<alg>/<hex>             empty: the repository has this blob
    repositories/<name>/_manifests/revisions/<alg>/<hex>  the manifest's media type
    repositories/<name>/_manifests/tags/<tag>           the digest the tag points at
    repositories/<name>/_referrers/<alg>/<hex>/<alg>:<hex>  a referrer's descriptor (JSON)

Blobs are shared by every repository and kept in capsa's content store (written through
an ingest, hashed while written, renamed into place only when the digest matches). A
repository sees a blob only through its link, as in docker-registry, so a blob pushed to
one repository is not readable from another until it is pushed or mounted there.

Tags are small files rather than rows in SQLite: each change is one atomic rename, so
pushes to different tags never wait for one another's lock, a crash leaves each tag
either old or new, and GC and people can read the layout with `ls` and `cat`. Listing is
a directory read and a sort, which is fast for the thousands of tags a repository has.

Repository components cannot start with `_`, so `_layers` and its siblings never clash
with a nested repository name. Every method is synchronous, short and thread-safe (the
server runs the ones that fsync in a thread).
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import threading
import time
from collections import OrderedDict
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from capsa.errors import InvalidArgument, NotFound
from capsa.oci.digest import REGISTERED, Digest
from capsa.store._files import fsync_dir, write_atomic
from capsa.store.blobs import ContentStore

LAYERS = "_layers"
MANIFESTS = "_manifests"
REFERRERS = "_referrers"
_CACHED_MANIFESTS = 2048  # verified manifests kept in memory (most recently used)
_CACHED_MANIFEST_MAX = 256 << 10
# The temporary files of write_atomic, which a reader may see before their rename.
_TEMPORARY = re.compile(r"\.tmp-\d+-\d+$")


class RegistryStorage:
    """One storage directory, shared by the server, `capsa registry gc` and any number
    of concurrent requests."""

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root)
        self.content = ContentStore(self.root)
        self.repositories_dir = self.root / "repositories"
        self.repositories_dir.mkdir(mode=0o700, exist_ok=True)
        self._manifest_cache: OrderedDict[Digest, bytes] = OrderedDict()
        self._cache_lock = threading.Lock()

    # -- paths ---------------------------------------------------------------------------

    def repository_dir(self, name: str) -> Path:
        return self.repositories_dir / name

    def _layer_link(self, name: str, digest: Digest) -> Path:
        return self.repositories_dir / name / LAYERS / digest.algorithm / digest.encoded

    def _revision(self, name: str, digest: Digest) -> Path:
        return (
            self.repositories_dir / name / MANIFESTS / "revisions" / digest.algorithm
        ) / digest.encoded

    def _tag_file(self, name: str, tag: str) -> Path:
        return self.repositories_dir / name / MANIFESTS / "tags" / tag

    def _referrers_dir(self, name: str, subject: Digest) -> Path:
        return self.repositories_dir / name / REFERRERS / subject.algorithm / subject.encoded

    # -- repositories --------------------------------------------------------------------

    def repository_exists(self, name: str) -> bool:
        directory = self.repositories_dir / name
        return (directory / MANIFESTS).is_dir() or (directory / LAYERS).is_dir()

    def repositories(self) -> list[str]:
        """Every repository that holds a blob or a manifest, in ASCII order."""
        found: list[str] = []
        stack = [""]
        while stack:
            prefix = stack.pop()
            directory = self.repositories_dir / prefix if prefix else self.repositories_dir
            try:
                entries = list(os.scandir(directory))
            except (FileNotFoundError, NotADirectoryError):
                continue
            names = {entry.name for entry in entries}
            if prefix and (MANIFESTS in names or LAYERS in names):
                found.append(prefix)
            for entry in entries:
                if not entry.name.startswith("_") and entry.is_dir(follow_symlinks=False):
                    stack.append(f"{prefix}/{entry.name}" if prefix else entry.name)
        return sorted(found)

    # -- blobs ---------------------------------------------------------------------------

    def blob_path(self, digest: Digest) -> Path:
        return self.content.path(digest)

    def blob_size(self, name: str, digest: Digest) -> int | None:
        """The size of `digest` if repository `name` has it, else None."""
        try:
            os.stat(self._layer_link(name, digest))
            return os.stat(self.content.path(digest)).st_size
        except (FileNotFoundError, NotADirectoryError):
            return None

    def stored_size(self, digest: Digest) -> int | None:
        """The size of `digest` if any repository pushed it, else None."""
        try:
            return os.stat(self.content.path(digest)).st_size
        except FileNotFoundError:
            return None

    def link_blob(self, name: str, digest: Digest) -> None:
        """Let `name` serve `digest` (which must be stored). Touches the blob so that a
        garbage collection running now sees it as young and keeps it."""
        touch(self.content.path(digest))
        link = self._layer_link(name, digest)
        if link.exists():
            return
        link.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        write_atomic(link, b"", 0o600)

    def unlink_blob(self, name: str, digest: Digest) -> bool:
        try:
            os.unlink(self._layer_link(name, digest))
        except (FileNotFoundError, NotADirectoryError):
            return False
        return True

    def layer_links(self, name: str) -> Iterator[Digest]:
        yield from _digests_under(self.repositories_dir / name / LAYERS)

    # -- manifests -----------------------------------------------------------------------

    def manifest_type(self, name: str, digest: Digest) -> str | None:
        """The media type `digest` was pushed with to `name`, or None if it was not."""
        try:
            return self._revision(name, digest).read_text()
        except (FileNotFoundError, NotADirectoryError):
            return None

    def read_manifest(self, name: str, digest: Digest) -> tuple[bytes, str] | None:
        media_type = self.manifest_type(name, digest)
        if media_type is None:
            return None
        data = self._manifest_cache.get(digest)
        if data is None:
            try:
                data = self.content.read_verified(digest)
            except NotFound:
                return None
            self._remember(digest, data)
        return data, media_type

    def _remember(self, digest: Digest, data: bytes) -> None:
        """Keep a verified manifest's bytes: content-addressed, so they never go stale
        (whether a repository still has the manifest is read from disk every time)."""
        if len(data) > _CACHED_MANIFEST_MAX:
            return
        with self._cache_lock:
            self._manifest_cache[digest] = data
            self._manifest_cache.move_to_end(digest)
            while len(self._manifest_cache) > _CACHED_MANIFESTS:
                self._manifest_cache.popitem(last=False)

    def manifests(self, name: str) -> Iterator[Digest]:
        yield from _digests_under(self.repositories_dir / name / MANIFESTS / "revisions")

    def put_manifest(self, name: str, data: bytes, digest: Digest, media_type: str) -> None:
        """Store the manifest's exact bytes and make it a revision of `name`."""
        self.content.write(data, expected=digest)
        self._remember(digest, data)
        touch(self.content.path(digest))
        revision = self._revision(name, digest)
        revision.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        write_atomic(revision, media_type.encode(), 0o600)

    def delete_manifest(self, name: str, digest: Digest) -> bool:
        """Remove the revision and every tag that points at it (tags first: a crash
        midway leaves a manifest without tags, never a tag without its manifest)."""
        if self.manifest_type(name, digest) is None:
            return False
        for tag in self.tags(name):
            if self.resolve_tag(name, tag) == digest:
                self.untag(name, tag)
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self._revision(name, digest))
        fsync_dir(self._revision(name, digest).parent)
        return True

    # -- tags ----------------------------------------------------------------------------

    def resolve_tag(self, name: str, tag: str) -> Digest | None:
        try:
            text = self._tag_file(name, tag).read_text()
        except (FileNotFoundError, NotADirectoryError, IsADirectoryError):
            return None
        try:
            return Digest.parse(text)
        except InvalidArgument:
            return None

    def tag(self, name: str, tag: str, digest: Digest) -> None:
        path = self._tag_file(name, tag)
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        write_atomic(path, str(digest).encode(), 0o600)

    def untag(self, name: str, tag: str) -> bool:
        path = self._tag_file(name, tag)
        try:
            os.unlink(path)
        except (FileNotFoundError, NotADirectoryError):
            return False
        fsync_dir(path.parent)
        return True

    def tags(self, name: str) -> list[str]:
        directory = self.repositories_dir / name / MANIFESTS / "tags"
        try:
            names = os.listdir(directory)
        except (FileNotFoundError, NotADirectoryError):
            return []
        return sorted(n for n in names if not _TEMPORARY.search(n))

    # -- referrers -----------------------------------------------------------------------

    def add_referrer(self, name: str, subject: Digest, descriptor: dict[str, Any]) -> None:
        directory = self._referrers_dir(name, subject)
        directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        data = json.dumps(descriptor, sort_keys=True, separators=(",", ":")).encode()
        write_atomic(directory / str(descriptor["digest"]), data, 0o600)

    def remove_referrer(self, name: str, subject: Digest, digest: Digest) -> None:
        with contextlib.suppress(FileNotFoundError, NotADirectoryError):
            os.unlink(self._referrers_dir(name, subject) / str(digest))

    def referrers(self, name: str, subject: Digest) -> list[dict[str, Any]]:
        """The descriptors of the manifests in `name` whose subject is `subject`, whose
        manifest is still there, ordered by digest so that pages are stable."""
        directory = self._referrers_dir(name, subject)
        try:
            entries = sorted(os.listdir(directory))
        except (FileNotFoundError, NotADirectoryError):
            return []
        found = []
        for entry in entries:
            if _TEMPORARY.search(entry):
                continue
            try:
                descriptor = json.loads((directory / entry).read_bytes())
                digest = Digest.parse(entry)
            except (FileNotFoundError, ValueError, InvalidArgument):
                continue
            if self.manifest_type(name, digest) is not None:
                found.append(descriptor)
        return found


def touch(path: Path) -> None:
    with contextlib.suppress(FileNotFoundError):
        os.utime(path, (time.time(), time.time()))


def _digests_under(directory: Path) -> Iterator[Digest]:
    for algorithm, length in REGISTERED.items():
        try:
            names = os.listdir(directory / algorithm)
        except (FileNotFoundError, NotADirectoryError):
            continue
        for encoded in names:
            if len(encoded) == length:
                with contextlib.suppress(InvalidArgument):
                    yield Digest.parse(f"{algorithm}:{encoded}")
