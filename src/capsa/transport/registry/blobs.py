"""Downloading a blob as a stream that survives a broken connection: when the connection
drops (or the body ends early) it asks again with `Range: bytes=<offset>-` and goes on
from there, a bounded number of times; a server that ignores Range is read past what was
already received. The caller (the destination) hashes and verifies what comes out."""

from __future__ import annotations

from typing import TYPE_CHECKING

from urllib3.exceptions import HTTPError

from capsa.transport.registry.errors import RegistryProtocolError, RegistryUnavailable
from capsa.transport.registry.headers import parse_range
from capsa.transport.registry.session import registry_error

if TYPE_CHECKING:
    from urllib3 import BaseHTTPResponse

    from capsa.oci.descriptor import Descriptor
    from capsa.transport.registry.auth import Scope
    from capsa.transport.registry.session import RegistrySession

RESUMES = 8  # reconnections of one blob, each after some progress
SKIP_CHUNK = 1 << 20


class BlobDownload:
    """The bytes of `descriptor`'s blob from `path` (`/v2/<name>/blobs/<digest>`)."""

    def __init__(
        self,
        session: RegistrySession,
        path: str,
        descriptor: Descriptor,
        scope: Scope,
        what: str,
        *,
        resumes: int = RESUMES,
    ) -> None:
        self._session = session
        self._path = path
        self._descriptor = descriptor
        self._scope = scope
        self._what = what
        self._resumes_left = resumes
        self.resumed = 0
        self.offset = 0
        self._response: BaseHTTPResponse | None = None
        self._open()  # a missing blob fails now, not at the first read

    def _open(self) -> None:
        headers = {"Accept-Encoding": "identity"}
        if self.offset:
            headers["Range"] = f"bytes={self.offset}-"
        response = self._session.request(
            "GET", self._path, scope=self._scope, headers=headers, stream=True
        )
        if self.offset and response.status == 206:
            got = parse_range(response.headers.get("Content-Range"))
            if got is None or got[0] != self.offset:
                response.release_conn()
                raise RegistryProtocolError(
                    f"{self._what}: {self._session.host} resumed the download at the wrong "
                    f"place ({response.headers.get('Content-Range')!r}, wanted {self.offset})"
                )
        elif response.status == 200:
            if self.offset:
                self._skip(response, self.offset)
        else:
            try:
                raise registry_error(response, self._what, self._session.host, blob=True)
            finally:
                response.release_conn()
        self._response = response

    def _skip(self, response: BaseHTTPResponse, count: int) -> None:
        """A server that ignored Range sent the whole blob again: drop what we have."""
        while count:
            data = response.read(min(count, SKIP_CHUNK))
            if not data:
                raise RegistryUnavailable(
                    f"{self._what}: the connection to {self._session.host} broke again "
                    "while resuming",
                    hint="try again",
                )
            count -= len(data)

    def read(self, size: int = -1, /) -> bytes:
        if size is None or size < 0:
            size = max(self._descriptor.size - self.offset, 0) + 1
        while True:
            response = self._response
            if response is None:
                return b""
            failure: BaseException | None = None
            try:
                data = response.read(size)
            except (HTTPError, OSError) as exc:
                failure, data = exc, b""
            if data:
                self.offset += len(data)
                return data
            if failure is None and self.offset >= self._descriptor.size:
                return b""  # the end (a longer blob shows as a size mismatch upstream)
            self._reconnect(failure)

    def _reconnect(self, failure: BaseException | None) -> None:
        self._close_response()
        if self._resumes_left <= 0:
            reason = f": {failure}" if failure is not None else ""
            raise RegistryUnavailable(
                f"{self._what}: the connection to {self._session.host} broke at byte "
                f"{self.offset} of {self._descriptor.size} too many times{reason}",
                hint="the network or the registry is unreliable; try again",
            )
        self._resumes_left -= 1
        self.resumed += 1
        self._open()

    def _close_response(self) -> None:
        response, self._response = self._response, None
        if response is not None:
            response.close()  # a broken connection must not go back to the pool
            response.release_conn()

    def close(self) -> None:
        response, self._response = self._response, None
        if response is not None:
            if self.offset < self._descriptor.size:
                response.close()  # do not read the rest just to reuse the connection
            response.release_conn()
