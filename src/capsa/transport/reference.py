"""Transport references as skopeo and podman write them: `TRANSPORT:PATH[:REF]`.

    oci:/srv/layout:v1              a ref (org.opencontainers.image.ref.name) in a layout
    oci-archive:/tmp/img.tar        the only image of an archive
    docker-archive:/tmp/a.tar:busybox:1.36   an image by its RepoTags name
    docker-archive:/tmp/a.tar:@1    the second image of the archive (sources only)
    docker://localhost:5000/app:v1  an image in a registry (normalised as Docker does)

As in containers/image, the path ends at the first ':' after the transport name, so paths
with ':' cannot be written here.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from capsa.errors import InvalidArgument
from capsa.oci.reference import parse_reference
from capsa.transport.errors import UnknownTransport

OCI = "oci"
OCI_ARCHIVE = "oci-archive"
DOCKER_ARCHIVE = "docker-archive"
DOCKER = "docker"
TRANSPORTS = (OCI, OCI_ARCHIVE, DOCKER_ARCHIVE, DOCKER)
# Transports other tools have that capsa does not (yet): a precise message for them.
_NOT_YET = {
    "containers-storage": "capsa's own store is addressed by image name, not this transport",
    "docker-daemon": "capsa does not talk to a Docker daemon",
    "dir": "use an OCI layout (oci:PATH) instead",
}

# The image-spec's grammar for org.opencontainers.image.ref.name (annotations.md).
_ALPHANUM = r"[A-Za-z0-9]+"
_COMPONENT = rf"{_ALPHANUM}(?:(?:[-._:@+]|--){_ALPHANUM})*"
_OCI_REF = re.compile(rf"{_COMPONENT}(?:/{_COMPONENT})*")
_SOURCE_INDEX = re.compile(r"@(\d+)")


@dataclass(frozen=True)
class TransportReference:
    """A parsed transport reference. `ref` is None when none was given; for
    docker-archive it is normalised (`docker.io/library/busybox:latest`) unless it is an
    `@N` index."""

    transport: str
    path: str
    ref: str | None = None

    @property
    def source_index(self) -> int | None:
        """N of an `@N` reference: the N-th image (from 0) of a source."""
        if self.ref is None:
            return None
        match = _SOURCE_INDEX.fullmatch(self.ref)
        return int(match.group(1)) if match else None

    def __str__(self) -> str:
        if self.transport == DOCKER:
            return f"{DOCKER}://{self.path}"
        text = f"{self.transport}:{self.path}"
        return text if self.ref is None else f"{text}:{self.ref}"


def parse_transport_reference(text: str) -> TransportReference:
    """Parse `oci:/path:tag` into its transport, path and ref; clear errors otherwise."""
    transport, sep, rest = text.partition(":")
    if not sep or not transport:
        raise UnknownTransport(
            f"invalid image location {text!r}: no transport",
            hint=f"write TRANSPORT:PATH[:REF] with a transport of {', '.join(TRANSPORTS)}",
        )
    if transport not in TRANSPORTS:
        reason = _NOT_YET.get(transport, "capsa does not know it")
        raise UnknownTransport(
            f"unknown transport {transport!r} in {text!r}: {reason}",
            hint=f"use one of {', '.join(TRANSPORTS)}",
        )
    if transport == DOCKER:
        return TransportReference(transport, _registry_ref(text, rest))
    path, sep, ref_text = rest.partition(":")
    if not path:
        raise InvalidArgument(f"invalid image location {text!r}: the path is empty")
    if not sep or not ref_text:
        return TransportReference(transport, path)
    if _SOURCE_INDEX.fullmatch(ref_text):
        return TransportReference(transport, path, ref_text)
    if transport == DOCKER_ARCHIVE:
        return TransportReference(transport, path, _docker_archive_ref(text, ref_text))
    return TransportReference(transport, path, check_oci_ref(ref_text))


def check_oci_ref(ref: str) -> str:
    """Validate a ref name of an OCI layout (a tag such as `v1` or `example.com/app:1`)."""
    if not _OCI_REF.fullmatch(ref):
        raise InvalidArgument(
            f"invalid OCI layout ref {ref!r}",
            hint="a ref is letters and digits separated by one of - . _ : @ + -- or /, "
            "e.g. v1.0 or example.com/app:1",
        )
    return ref


def _docker_archive_ref(text: str, ref_text: str) -> str:
    reference = parse_reference(ref_text)
    if reference.digest is not None:
        raise InvalidArgument(
            f"invalid docker-archive reference {text!r}: a digest cannot name an image in "
            "a docker-archive",
            hint="use name:tag, or @N for the N-th image of the archive",
        )
    return str(reference)


def _registry_ref(text: str, rest: str) -> str:
    """`docker://NAME`: the path is the whole normalised image reference."""
    if not rest.startswith("//"):
        raise InvalidArgument(
            f"invalid image location {text!r}: write docker://NAME",
            hint="e.g. docker://localhost:5000/app:v1",
        )
    return str(parse_reference(rest[2:]))
