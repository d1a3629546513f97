"""The errors a registry conversation raises. Each is one of capsa.errors' kinds, so the
CLI maps it to an exit code and one line (what, where, why, what to do)."""

from __future__ import annotations

from capsa.errors import InvalidArgument, NotFound, PermissionDenied, Unavailable


class RegistryUnavailable(Unavailable):
    """The registry cannot be reached, or answered with a server error."""


class AuthenticationFailed(PermissionDenied):
    """The registry refused the credentials (or wants some and none are stored)."""


class AccessDenied(PermissionDenied):
    """Authenticated, but not allowed to do this (DENIED, 403)."""


class ManifestUnknown(NotFound):
    """No manifest under that tag or digest (MANIFEST_UNKNOWN, NAME_UNKNOWN)."""


class BlobUnknown(NotFound):
    """The registry has no blob with that digest in that repository."""


class ManifestTooLarge(InvalidArgument):
    """A manifest larger than a client should ever read."""


class RegistryProtocolError(InvalidArgument):
    """The registry answered something the distribution spec does not allow."""


class TLSError(Unavailable):
    """The TLS handshake failed: an untrusted certificate, or not TLS at all."""
