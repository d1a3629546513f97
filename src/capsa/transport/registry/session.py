"""HTTP to one registry: connection pooling (urllib3), TLS, the first `GET /v2/` that
finds the scheme and the authentication the registry wants, authenticated requests with
one retry after a 401, bounded retries of idempotent requests on a dropped connection or a
429/502/503/504, and every transport failure turned into one clear CapsaError.

urllib3 rather than httpx: measured here against docker-registry, streaming a 200 MB blob
through urllib3 runs at ~1.7 GB/s and through httpx at ~0.9 GB/s (sha256 included), and
urllib3 needs nothing else installed.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

import urllib3
from urllib3.exceptions import (
    HTTPError,
    MaxRetryError,
    NameResolutionError,
    NewConnectionError,
    ProtocolError,
    ReadTimeoutError,
    SSLError,
)
from urllib3.exceptions import TimeoutError as Urllib3Timeout
from urllib3.util import Retry, Timeout

from capsa.errors import CapsaError
from capsa.transport.registry import tls
from capsa.transport.registry.auth import Authenticator, Scope, TokenResponse
from capsa.transport.registry.errors import (
    AccessDenied,
    AuthenticationFailed,
    BlobUnknown,
    ManifestUnknown,
    RegistryProtocolError,
    RegistryUnavailable,
    TLSError,
)
from capsa.transport.registry.names import api_host

if TYPE_CHECKING:
    from urllib3 import BaseHTTPResponse

    from capsa.transport.registry.authfile import Credentials

USER_AGENT = "capsa/0.1"
CONNECT_TIMEOUT = 30.0
READ_TIMEOUT = 120.0
ATTEMPTS = 4  # tries of an idempotent request that failed on the way (not an HTTP error)
RETRY_STATUSES = frozenset({429, 502, 503, 504})
MAX_ERROR_BODY = 64 << 10
_IDEMPOTENT = frozenset({"GET", "HEAD", "DELETE", "PUT"})

Body = bytes | Iterable[bytes] | None


class RegistrySession:
    """Requests to the registry `host` (as image names write it: `docker.io`,
    `localhost:5000`). `verify` False accepts any certificate; `allow_http` lets the first
    request fall back to plain HTTP when HTTPS fails (insecure registries)."""

    def __init__(
        self,
        host: str,
        *,
        credentials: Credentials | None = None,
        verify: bool = True,
        allow_http: bool = False,
        tls_files: tls.TLSFiles | None = None,
        pool_size: int = 8,
        timeout: Timeout | None = None,
        api: str | None = None,
    ) -> None:
        self.host = host
        self.api = api or api_host(host)
        self.verify = verify
        self.allow_http = allow_http
        context = tls.make_context(tls_files or tls.TLSFiles(), verify=verify)
        extra: dict[str, Any] = {}
        if not verify:
            extra = {"cert_reqs": "CERT_NONE", "assert_hostname": False}
        self._pool = urllib3.PoolManager(
            num_pools=4,
            maxsize=pool_size,
            ssl_context=context,
            headers={"User-Agent": USER_AGENT},
            timeout=timeout or Timeout(connect=CONNECT_TIMEOUT, read=READ_TIMEOUT),
            **extra,
        )
        self._retry = Retry(
            total=10,
            connect=0,
            read=0,
            status=0,
            other=0,
            redirect=10,
            raise_on_redirect=True,
            raise_on_status=False,
            respect_retry_after_header=False,
        )
        self.auth = Authenticator(host, credentials, self._fetch_token)
        self._base: str | None = None
        self._ping_lock = threading.Lock()

    def close(self) -> None:
        self._pool.clear()

    # -- the first request ---------------------------------------------------------------

    @property
    def base(self) -> str:
        """`https://host` (or `http://host`), found by the first GET /v2/."""
        if self._base is None:
            with self._ping_lock:
                if self._base is None:
                    self._ping()
        assert self._base is not None
        return self._base

    def _ping(self) -> None:
        schemes = ["https", "http"] if self.allow_http else ["https"]
        failure: CapsaError | None = None
        for scheme in schemes:
            url = f"{scheme}://{self.api}/v2/"
            try:
                response = self._send("GET", url, {}, None, preload=True)
            except (TLSError, RegistryUnavailable) as exc:
                failure = failure or exc
                continue
            self._base = f"{scheme}://{self.api}"
            if response.status == 401:
                if not self.auth.set_challenge(response.headers.get("WWW-Authenticate")):
                    raise RegistryProtocolError(
                        f"registry {self.host} wants an authentication capsa does not speak "
                        f"({response.headers.get('WWW-Authenticate', 'no challenge')!r})"
                    )
            elif response.status == 404:
                raise RegistryProtocolError(
                    f"{url} is not a registry: it has no /v2/ API (HTTP 404)",
                    hint="check the registry's address and port",
                )
            elif response.status >= 500 or response.status in RETRY_STATUSES:
                raise RegistryUnavailable(
                    f"registry {self.host} is not working: GET {url} answered HTTP "
                    f"{response.status}",
                    hint="try again later",
                )
            return
        assert failure is not None
        raise failure

    # -- requests ------------------------------------------------------------------------

    def url(self, path: str) -> str:
        return path if path.startswith(("https://", "http://")) else self.base + path

    def request(
        self,
        method: str,
        path: str,
        *,
        scope: Scope = (),
        headers: Mapping[str, str] | None = None,
        body: Body = None,
        stream: bool = False,
    ) -> BaseHTTPResponse:
        """Send `method path` with the authentication `scope` needs. A body that is not
        bytes is sent once only: no retry after a 401 or a dropped connection."""
        url = self.url(path)
        replayable = body is None or isinstance(body, bytes)
        answered_401 = False
        attempt = 0
        while True:
            attempt += 1
            sent = {**(headers or {}), **self.auth.header(scope)}
            try:
                response = self._send(method, url, sent, body, preload=not stream)
            except RegistryUnavailable:
                if not replayable or method not in _IDEMPOTENT or attempt >= ATTEMPTS:
                    raise
                time.sleep(0.2 * attempt)
                continue
            if response.status == 401 and replayable and not answered_401:
                answered_401 = True
                challenge = response.headers.get("WWW-Authenticate")
                if self.auth.retry_after_401(challenge, scope, sent):
                    response.drain_conn()
                    response.release_conn()
                    continue
            if (
                response.status in RETRY_STATUSES
                and replayable
                and method in _IDEMPOTENT
                and attempt < ATTEMPTS
            ):
                delay = _retry_after(response.headers.get("Retry-After"), attempt)
                response.drain_conn()
                response.release_conn()
                time.sleep(delay)
                continue
            return response

    def _send(
        self,
        method: str,
        url: str,
        headers: Mapping[str, str],
        body: Body,
        *,
        preload: bool,
    ) -> BaseHTTPResponse:
        try:
            return self._pool.request(
                method,
                url,
                headers=dict(headers),
                body=body,
                preload_content=preload,
                decode_content=False,
                retries=self._retry,
                redirect=True,
            )
        except MaxRetryError as exc:
            raise self._transport_error(method, url, exc.reason or exc) from None
        except HTTPError as exc:
            raise self._transport_error(method, url, exc) from None
        except OSError as exc:
            raise self._transport_error(method, url, exc) from None

    def _transport_error(self, method: str, url: str, error: BaseException) -> CapsaError:
        where = f"registry {self.host} ({method} {url})"
        text = str(error)
        if isinstance(error, SSLError) or "SSL" in type(error).__name__:
            if "CERTIFICATE_VERIFY_FAILED" in text or "certificate verify failed" in text:
                return TLSError(
                    f"cannot connect to {where}: its TLS certificate is not trusted "
                    f"({_ssl_reason(text)})",
                    hint=f"put its CA in /etc/containers/certs.d/{self.host}/ca.crt, or use "
                    "--tls-verify=false if you trust the network",
                )
            return TLSError(
                f"cannot connect to {where}: the TLS handshake failed ({_ssl_reason(text)})",
                hint="if the registry speaks plain HTTP, declare it insecure in "
                "registries.conf or use --tls-verify=false",
            )
        if isinstance(error, NameResolutionError):
            return RegistryUnavailable(
                f"cannot reach {where}: the name {self.api} does not resolve",
                hint="check the registry's name",
            )
        if isinstance(error, NewConnectionError) or "Connection refused" in text:
            reason = "connection refused" if "refused" in text else _short(text)
            return RegistryUnavailable(
                f"cannot reach {where}: {reason}",
                hint="is the registry running and listening there? check the address and port",
            )
        if isinstance(error, (ReadTimeoutError, Urllib3Timeout)):
            return RegistryUnavailable(
                f"{where} did not answer in time", hint="the registry is down or overloaded"
            )
        if isinstance(error, ProtocolError):
            return RegistryUnavailable(
                f"the connection to {where} broke: {_short(text)}",
                hint="the registry went away or the network dropped; try again",
            )
        return RegistryUnavailable(f"cannot talk to {where}: {_short(text)}")

    def _fetch_token(
        self, method: str, url: str, headers: Mapping[str, str], body: bytes | None
    ) -> TokenResponse:
        response = self._send(method, url, headers, body, preload=True)
        return TokenResponse(response.status, response.data[:MAX_ERROR_BODY])


# -- registry errors -----------------------------------------------------------------------


def error_codes(response: BaseHTTPResponse) -> list[tuple[str, str]]:
    """The (code, message) pairs of a distribution-spec error body."""
    data = response.data if response.data is not None else b""
    try:
        document = json.loads(data[:MAX_ERROR_BODY])
    except ValueError:
        return []
    errors = document.get("errors") if isinstance(document, dict) else None
    out: list[tuple[str, str]] = []
    for item in errors if isinstance(errors, list) else []:
        if isinstance(item, dict):
            out.append((str(item.get("code", "")), str(item.get("message", ""))))
    return out


def registry_error(
    response: BaseHTTPResponse, what: str, host: str, *, blob: bool = False
) -> CapsaError:
    """The error to raise for a response that was not the one expected. `what` says what
    was asked (`manifest for localhost:5000/app:v1`)."""
    if response.status == 416 or response.status in range(300, 400):
        response.drain_conn()
    codes = error_codes(response)
    code, message = codes[0] if codes else ("", "")
    detail = f"{code.lower()}: {message}" if code else f"HTTP {response.status}"
    status = response.status
    if status == 401:
        return AuthenticationFailed(
            f"{what}: {host} requires authentication ({detail})",
            hint=f"log in with capsa login {host}",
        )
    if status == 403 or code == "DENIED":
        return AccessDenied(
            f"{what}: {host} denied access ({detail})",
            hint="check the repository name and that your account may use it",
        )
    if status == 404:
        cls = BlobUnknown if blob or code == "BLOB_UNKNOWN" else ManifestUnknown
        return cls(
            f"{what} not found on {host}: {detail or 'not found'}",
            hint="check the name and the tag or digest",
        )
    if status == 429:
        return RegistryUnavailable(
            f"{what}: {host} has too many requests ({detail})", hint="wait and try again"
        )
    if status >= 500:
        return RegistryUnavailable(
            f"{what}: {host} failed with HTTP {status} ({detail})",
            hint="the registry has a problem; try again later",
        )
    return RegistryProtocolError(f"{what}: {host} answered HTTP {status} ({detail})")


def _retry_after(header: str | None, attempt: int) -> float:
    if header and header.strip().isdigit():
        return min(float(header.strip()), 30.0)
    return min(0.5 * float(1 << attempt), 8.0)


def _ssl_reason(text: str) -> str:
    for marker in ("certificate verify failed: ", "] "):
        if marker in text:
            return _short(text.split(marker, 1)[1].split(" (_ssl", 1)[0].rstrip(")'\""))
    return _short(text)


def _short(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= 200 else text[:200] + "…"
