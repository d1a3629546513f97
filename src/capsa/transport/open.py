"""Opening a source or destination from a transport reference (`oci:/srv/layout:v1`).

Each transport's modules are imported only when a reference names it.
"""

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING

from capsa.errors import InvalidArgument
from capsa.transport.reference import (
    DOCKER,
    DOCKER_ARCHIVE,
    OCI,
    OCI_ARCHIVE,
    TransportReference,
    parse_transport_reference,
)

if TYPE_CHECKING:
    from collections.abc import Iterator

    from capsa.transport.types import ImageDestination, ImageSource


def _parsed(reference: str | TransportReference) -> TransportReference:
    if isinstance(reference, TransportReference):
        return reference
    return parse_transport_reference(reference)


def open_source(reference: str | TransportReference) -> ImageSource:
    """The image a transport reference names, ready to copy from. Close it when done."""
    parsed = _parsed(reference)
    index = parsed.source_index
    ref = parsed.ref if index is None else None
    description = str(parsed)
    if parsed.transport == OCI:
        from capsa.transport.oci_layout.source import open_layout_source

        return open_layout_source(parsed.path, ref, index, description)
    if parsed.transport == OCI_ARCHIVE:
        from capsa.transport.oci_archive.source import open_archive_source

        return open_archive_source(parsed.path, ref, index, description)
    if parsed.transport == DOCKER_ARCHIVE:
        from capsa.transport.docker_archive.source import DockerArchiveSource

        return DockerArchiveSource(parsed.path, ref, index, description)
    if parsed.transport == DOCKER:
        from capsa.oci.reference import parse_reference
        from capsa.transport.registry.source import RegistrySource

        return RegistrySource(parse_reference(parsed.path), description=description)
    raise AssertionError(parsed.transport)  # parse_transport_reference knows no other


def open_destination(reference: str | TransportReference) -> ImageDestination:
    """Somewhere to copy images to. close() finishes it (an archive is written then);
    abort() drops what was not committed."""
    parsed = _parsed(reference)
    if parsed.source_index is not None:
        raise InvalidArgument(
            f"invalid destination {parsed}: @N chooses an image to read, not one to write",
            hint="name the image with a ref or name:tag, or give none",
        )
    description = str(parsed)
    if parsed.transport == OCI:
        from capsa.transport.oci_layout.dest import LayoutDestination

        return LayoutDestination(parsed.path, parsed.ref, description)
    if parsed.transport == OCI_ARCHIVE:
        from capsa.transport.oci_archive.dest import ArchiveDestination

        return ArchiveDestination(parsed.path, parsed.ref, description)
    if parsed.transport == DOCKER_ARCHIVE:
        from capsa.transport.docker_archive.dest import DockerArchiveDestination

        return DockerArchiveDestination(parsed.path, parsed.ref, description)
    if parsed.transport == DOCKER:
        from capsa.oci.reference import parse_reference
        from capsa.transport.registry.dest import RegistryDestination

        return RegistryDestination(parse_reference(parsed.path), description=description)
    raise AssertionError(parsed.transport)


@contextlib.contextmanager
def reading(reference: str | TransportReference) -> Iterator[ImageSource]:
    """open_source() as a context: the source is closed on leaving."""
    src = open_source(reference)
    try:
        yield src
    finally:
        src.close()


@contextlib.contextmanager
def writing(reference: str | TransportReference) -> Iterator[ImageDestination]:
    """open_destination() as a context: closed (finished) on leaving normally, aborted
    when an exception leaves it, so a failed copy leaves no archive behind."""
    dst = open_destination(reference)
    try:
        yield dst
    except BaseException:
        dst.abort()
        raise
    dst.close()
