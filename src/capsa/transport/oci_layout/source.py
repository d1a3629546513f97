"""Reading an image from an OCI image layout, in a directory or (through the same code)
inside a tar archive (capsa.transport.oci_archive)."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Protocol

from capsa.errors import InvalidArgument, NotFound
from capsa.oci import media_types
from capsa.transport.oci_layout import layout
from capsa.transport.verify import read_bounded, read_document

if TYPE_CHECKING:
    from capsa.oci.descriptor import Descriptor
    from capsa.oci.digest import Digest
    from capsa.transport.types import BlobReader


class LayoutFiles(Protocol):
    """The files of a layout, by relative path; NotFound when one is missing."""

    def open(self, name: str) -> BlobReader: ...

    def exists(self, name: str) -> bool: ...

    def close(self) -> None: ...


class DirectoryFiles:
    def __init__(self, root: str, description: str) -> None:
        if not os.path.exists(root):
            raise NotFound(f"{description}: no such directory {root}")
        if not os.path.isdir(root):
            raise InvalidArgument(
                f"{description}: {root} is not a directory",
                hint="an OCI archive (a tar file) is written oci-archive:PATH",
            )
        self.root = root
        self.description = description

    def open(self, name: str) -> BlobReader:
        try:
            return open(os.path.join(self.root, name), "rb")
        except FileNotFoundError:
            raise NotFound(f"{self.description}: the layout has no {name}") from None

    def exists(self, name: str) -> bool:
        return os.path.isfile(os.path.join(self.root, name))

    def close(self) -> None:
        pass


class LayoutSource:
    """The image a ref (or `@N`, or nothing when the layout holds one image) names."""

    def __init__(
        self,
        files: LayoutFiles,
        description: str,
        ref: str | None = None,
        source_index: int | None = None,
    ) -> None:
        self.description = description
        self._files = files
        # files of a directory open independently; members of one tar file do not
        self.concurrent_blobs = isinstance(files, DirectoryFiles)
        try:
            if not files.exists(layout.LAYOUT_FILE):
                raise InvalidArgument(
                    f"{description}: not an OCI image layout (it has no {layout.LAYOUT_FILE} file)"
                )
            layout.check_layout_file(self._read(layout.LAYOUT_FILE), description)
            index = layout.parse_index(self._read(layout.INDEX_FILE), description)
            self._entry = layout.find_entry(index, ref, source_index, description)
        except BaseException:
            files.close()
            raise
        kind = self._entry.media_type
        if not (media_types.is_manifest(kind) or media_types.is_index(kind)):
            files.close()
            raise InvalidArgument(
                f"{description}: the entry is {kind!r}, not an image manifest or index"
            )

    def top_manifest(self) -> tuple[bytes, str]:
        stream = self._files.open(layout.blob_path(self._entry.digest))
        try:
            return read_document(stream, self._entry), self._entry.media_type
        finally:
            stream.close()

    def get_manifest(self, digest: Digest) -> bytes:
        stream = self._files.open(layout.blob_path(digest))
        try:
            return read_bounded(stream, f"{self.description}: manifest {digest}")
        finally:
            stream.close()

    def get_blob(self, descriptor: Descriptor) -> BlobReader:
        return self._files.open(layout.blob_path(descriptor.digest))

    def has_blob(self, descriptor: Descriptor) -> bool:
        return self._files.exists(layout.blob_path(descriptor.digest))

    def close(self) -> None:
        self._files.close()

    def _read(self, name: str) -> bytes:
        stream = self._files.open(name)
        try:
            return read_bounded(stream, f"{self.description}: {name}")
        finally:
            stream.close()


def open_layout_source(
    path: str, ref: str | None, source_index: int | None, description: str
) -> LayoutSource:
    return LayoutSource(DirectoryFiles(path, description), description, ref, source_index)
