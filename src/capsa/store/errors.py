"""The store's own kinds of error, each a subclass of one in `capsa.errors`."""

from __future__ import annotations

from capsa.errors import Conflict, InvalidArgument


class DigestMismatch(InvalidArgument):
    """Content does not match the digest (or size) it was written or read under."""

    def __init__(
        self, message: str, *, expected: str = "", actual: str = "", hint: str | None = None
    ) -> None:
        super().__init__(message, hint=hint)
        self.expected = expected
        self.actual = actual


class BlobCorrupted(DigestMismatch):
    """A stored blob no longer hashes to its name: the disk or someone changed it."""


class LayerRefused(InvalidArgument):
    """A layer tarball holds an entry capsa will not apply (unsafe or malformed).

    `layer` and `entry` name what was refused so the message can say so.
    """

    def __init__(self, layer: str, entry: str, reason: str, *, hint: str | None = None) -> None:
        where = f"layer {layer}: entry {entry!r}" if entry else f"layer {layer}"
        super().__init__(f"{where}: {reason}", hint=hint)
        self.layer = layer
        self.entry = entry
        self.reason = reason


class InUse(Conflict):
    """The thing is still used (an image by a container, a snapshot by its children)."""
