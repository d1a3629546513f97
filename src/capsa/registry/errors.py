"""The distribution-spec's error codes, their HTTP statuses and JSON bodies.

Statuses and messages are those docker-registry (distribution's `errcode` and
`registry/api/v2`) sends, so clients written against it read ours the same way.
"""

from __future__ import annotations

import json
from typing import Any

from capsa.errors import CapsaError

# code -> (HTTP status, message)
CODES: dict[str, tuple[int, str]] = {
    "BLOB_UNKNOWN": (404, "blob unknown to registry"),
    "BLOB_UPLOAD_INVALID": (400, "blob upload invalid"),
    "BLOB_UPLOAD_UNKNOWN": (404, "blob upload unknown to registry"),
    "DIGEST_INVALID": (400, "provided digest did not match uploaded content"),
    "MANIFEST_BLOB_UNKNOWN": (400, "blob unknown to registry"),
    "MANIFEST_INVALID": (400, "manifest invalid"),
    "MANIFEST_UNKNOWN": (404, "manifest unknown"),
    "NAME_INVALID": (400, "invalid repository name"),
    "NAME_UNKNOWN": (404, "repository name not known to registry"),
    "SIZE_INVALID": (400, "provided length did not match content length"),
    "UNAUTHORIZED": (401, "authentication required"),
    "DENIED": (403, "requested access to the resource is denied"),
    "UNSUPPORTED": (405, "The operation is unsupported."),
    "TOOMANYREQUESTS": (429, "too many requests"),
    # Not a spec code: what docker-registry answers when the server itself fails.
    "UNKNOWN": (500, "unknown error"),
}


class RegistryError(CapsaError):
    """One spec error answered to a client: a code, its status, a message and a detail.

    `status` overrides the code's usual status where the spec asks for another one
    (416 for an out-of-order chunk, 413 for a manifest too large); `headers` are sent
    with the answer (a challenge, a Range, Retry-After).
    """

    def __init__(
        self,
        code: str,
        message: str | None = None,
        *,
        detail: Any = None,
        status: int | None = None,
        headers: list[tuple[str, str]] | None = None,
        more: list[RegistryError] | None = None,
    ) -> None:
        usual_status, usual_message = CODES[code]
        super().__init__(message or usual_message)
        self.code = code
        self.detail = detail
        self.status = status or usual_status
        self.headers = headers or []
        self.more = more or []

    def entry(self) -> dict[str, Any]:
        entry: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.detail is not None:
            entry["detail"] = self.detail
        return entry

    def body(self) -> bytes:
        entries = [self.entry()] + [error.entry() for error in self.more]
        return json.dumps({"errors": entries}, separators=(",", ":")).encode()
