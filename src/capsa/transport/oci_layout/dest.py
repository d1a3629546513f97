"""Writing images into an OCI image layout directory, new or existing.

Blobs are written atomically (a temporary file in `blobs/<alg>/`, fsync, rename) and
verified while they stream, so a blob file is always whole and correct. commit() adds or
replaces the ref's entry in index.json under an flock(2) of the layout directory, keeping
every other entry, so several writers can share a layout.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import shutil
import tempfile
from io import BytesIO
from typing import TYPE_CHECKING

from capsa.errors import InvalidArgument, PermissionDenied
from capsa.oci import media_types
from capsa.oci.descriptor import Descriptor
from capsa.oci.media_types import Compression
from capsa.transport._files import fsync_dir, write_atomic
from capsa.transport.oci_layout import layout
from capsa.transport.reference import check_oci_ref
from capsa.transport.verify import copy_verified, verify_digest

if TYPE_CHECKING:
    from collections.abc import Iterator

    from capsa.oci.digest import Digest
    from capsa.transport.types import BlobReader

OCI_MANIFEST_TYPES = frozenset({media_types.OCI_MANIFEST, media_types.OCI_INDEX})
ALL_COMPRESSIONS = frozenset(Compression)


class LayoutDestination:
    """An OCI layout directory to write into.

    It stores OCI media types only: skopeo and podman ignore index.json entries of other
    types (a Docker manifest there is invisible to them), so Docker images are converted.
    """

    manifest_types = OCI_MANIFEST_TYPES
    layer_compressions = ALL_COMPRESSIONS
    concurrent_blobs = True  # each blob is its own temporary file, renamed into place
    sparse_indexes = False

    def __init__(self, path: str, ref: str | None, description: str) -> None:
        self.description = description
        self.path = path
        self._ref = check_oci_ref(ref) if ref is not None else None
        self._created: str | None = None  # the topmost directory this destination made
        self._top: Descriptor | None = None
        self._committed = False
        self._prepare()

    def _prepare(self) -> None:
        path = self.path
        if os.path.exists(path):
            if not os.path.isdir(path):
                raise InvalidArgument(
                    f"{self.description}: {path} exists and is not a directory",
                    hint="an OCI archive (a tar file) is written oci-archive:PATH",
                )
            marker = os.path.join(path, layout.LAYOUT_FILE)
            if os.path.exists(marker):
                with open(marker, "rb") as file:
                    layout.check_layout_file(file.read(1 << 16), self.description)
                index_path = os.path.join(path, layout.INDEX_FILE)
                if os.path.exists(index_path):
                    with open(index_path, "rb") as file:
                        layout.parse_index(file.read(), self.description)
                return
            if os.listdir(path):
                raise InvalidArgument(
                    f"{self.description}: {path} is neither an OCI layout nor empty",
                    hint="write the layout into a new or an empty directory",
                )
        else:
            self._created = _make_dirs(path, self.description)
        try:
            os.makedirs(os.path.join(path, layout.BLOBS_DIR), exist_ok=True)
            write_atomic(os.path.join(path, layout.LAYOUT_FILE), layout.layout_file_bytes())
        except BaseException:
            self.abort()
            raise

    def has_blob(self, digest: Digest) -> bool:
        return os.path.isfile(os.path.join(self.path, layout.blob_path(digest)))

    def put_blob(self, descriptor: Descriptor, stream: BlobReader) -> None:
        final = os.path.join(self.path, layout.blob_path(descriptor.digest))
        directory = os.path.dirname(final)
        os.makedirs(directory, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".tmp-", dir=directory)
        try:
            with os.fdopen(fd, "wb") as file:
                copy_verified(stream, file.write, descriptor)
                file.flush()
                os.fsync(file.fileno())
            os.chmod(tmp, 0o644)
            os.rename(tmp, final)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
            raise
        fsync_dir(directory)

    def put_manifest(self, data: bytes, media_type: str, digest: Digest) -> None:
        verify_digest(data, digest, f"the {media_type} document")
        descriptor = Descriptor(media_type, digest, len(data))
        if not self.has_blob(digest):
            self.put_blob(descriptor, BytesIO(data))
        self._top = descriptor

    def commit(self, name: str | None = None) -> None:
        if self._top is None:
            raise InvalidArgument(f"{self.description}: nothing to commit (no manifest put)")
        ref = check_oci_ref(name) if name is not None else self._ref
        index_path = os.path.join(self.path, layout.INDEX_FILE)
        with _locked(self.path):
            if os.path.exists(index_path):
                with open(index_path, "rb") as file:
                    index = layout.parse_index(file.read(), self.description)
            else:
                index = layout.empty_index()
            updated = layout.with_entry(index, self._top, ref)
            write_atomic(index_path, layout.index_bytes(updated))
        self._committed = True

    def close(self) -> None:
        pass

    def abort(self) -> None:
        """Remove the layout if this destination created it and committed nothing. In an
        existing layout, complete blobs stay (verified and content-addressed, harmless);
        index.json only ever changes on commit."""
        if self._created is not None and not self._committed:
            shutil.rmtree(self._created, ignore_errors=True)
            self._created = None


def _make_dirs(path: str, description: str) -> str:
    """Create `path` and missing parents; return the topmost directory created."""
    absolute = os.path.abspath(path)
    top = absolute
    while not os.path.exists(os.path.dirname(top)):
        top = os.path.dirname(top)
    try:
        os.makedirs(absolute)
    except PermissionError:
        raise PermissionDenied(f"{description}: cannot create {path}: permission denied") from None
    return top


@contextlib.contextmanager
def _locked(path: str) -> Iterator[None]:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield None
    finally:
        os.close(fd)
