"""How a layer marks deletions (OCI whiteouts) and how an overlayfs tree holds them: the
names and xattrs the unpacker, the differ and the snapshotters share, kept apart from the
unpacker so that knowing them costs no import of it."""

from __future__ import annotations

from collections.abc import Callable
from enum import Enum

IdMapper = Callable[[int, int], tuple[int, int]]

WHITEOUT_PREFIX = b".wh."
OPAQUE_MARKER = b".wh..wh..opq"
OPAQUE_XATTR = b"trusted.overlay.opaque"
# overlayfs mounted with `userxattr` (by an unprivileged user, in a user namespace) reads
# its marks from the user namespace of xattrs instead
USER_OPAQUE_XATTR = b"user.overlay.opaque"


class Style(Enum):
    """How a layer is applied: overlay (whiteouts become 0:0 devices and opaque xattrs,
    for a tree used as an overlay layer) or apply (deletions done, for a whole tree)."""

    OVERLAY = "overlay"
    APPLY = "apply"
