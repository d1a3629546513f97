"""Reading an image from an OCI archive: a tar of an OCI image layout, read in place
(members are streamed out of the tar, nothing is extracted to disk)."""

from __future__ import annotations

from capsa.transport._tar import TarReader
from capsa.transport.oci_layout.source import LayoutSource


def open_archive_source(
    path: str, ref: str | None, source_index: int | None, description: str
) -> LayoutSource:
    return LayoutSource(TarReader(path, description), description, ref, source_index)
