"""The errors transports raise beyond capsa.errors' kinds.

Every one is a kind from capsa.errors, so callers that only know the kinds still map them
to the right exit code and message.
"""

from __future__ import annotations

from capsa.errors import InvalidArgument
from capsa.oci.digest import Digest


class DigestMismatch(InvalidArgument):
    """A blob's bytes do not hash to the digest its descriptor names."""

    def __init__(self, blob: str, expected: Digest, actual: Digest) -> None:
        super().__init__(
            f"{blob} does not match its digest: expected {expected}, got {actual}",
            hint="the source is corrupt or was changed while it was read; nothing was stored",
        )
        self.blob = blob
        self.expected = expected
        self.actual = actual


class SizeMismatch(InvalidArgument):
    """A blob is shorter (truncated) or longer than its descriptor's size."""

    def __init__(self, blob: str, expected: int, actual: int) -> None:
        if actual < expected:
            message = f"{blob} is truncated: {actual} of {expected} bytes"
        else:
            message = f"{blob} is longer than its descriptor says: more than {expected} bytes"
        super().__init__(message, hint="the source is corrupt or incomplete; nothing was stored")
        self.blob = blob
        self.expected = expected
        self.actual = actual


class UnknownTransport(InvalidArgument):
    """A transport reference names no transport capsa has."""


class UnsupportedByDestination(InvalidArgument):
    """The image cannot be written in the destination's format (an index into a
    docker-archive, an OCI artifact into Docker's format)."""
