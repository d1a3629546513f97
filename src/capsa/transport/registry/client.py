"""The distribution API of one repository (`/v2/<name>/…`) and of a whole registry
(`/v2/_catalog`, Docker Hub's `/v1/search`): manifests with content negotiation, blobs,
monolithic and chunked uploads, cross-repository mounts, tags, referrers."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, urlencode

from capsa.errors import InvalidArgument
from capsa.oci import media_types as mt
from capsa.oci.canonical import canonical_bytes, load_json
from capsa.oci.descriptor import Descriptor
from capsa.oci.digest import Digest
from capsa.oci.manifest import Index
from capsa.transport.errors import DigestMismatch, SizeMismatch
from capsa.transport.registry.auth import Scope, repository_scope
from capsa.transport.registry.blobs import BlobDownload
from capsa.transport.registry.errors import (
    ManifestTooLarge,
    ManifestUnknown,
    RegistryProtocolError,
    RegistryUnavailable,
)
from capsa.transport.registry.headers import media_type, next_link, parse_range
from capsa.transport.registry.session import registry_error
from capsa.transport.types import CHUNK
from capsa.transport.verify import blob_name

if TYPE_CHECKING:
    from urllib3 import BaseHTTPResponse

    from capsa.transport.registry.session import RegistrySession
    from capsa.transport.types import BlobReader

# containerd's limit: no real manifest comes near it, and it bounds what a hostile
# registry can make a client hold in memory.
MAX_MANIFEST_SIZE = 4 << 20
MAX_LIST_SIZE = 16 << 20  # a tags list or catalog page
ACCEPT = ", ".join(mt.ACCEPTED_MANIFEST_TYPES)
DEFAULT_CHUNK = 16 << 20
PAGE = 1000
CHUNK_RETRIES = 5


@dataclass(frozen=True)
class FetchedManifest:
    data: bytes
    media_type: str
    digest: Digest

    @property
    def descriptor(self) -> Descriptor:
        return Descriptor(self.media_type, self.digest, len(self.data))


def referrers_tag(digest: Digest) -> str:
    """The referrers tag schema: `<alg>-<hex>`, truncated as the spec says."""
    algorithm = "".join(c if c.isalnum() or c in "_.-" else "-" for c in digest.algorithm[:32])
    encoded = "".join(c if c.isalnum() or c in "_.-" else "-" for c in digest.encoded[:64])
    return f"{algorithm}-{encoded}"


class RegistryClient:
    """`repository` (a path such as `library/busybox`) on the registry `session` talks to."""

    def __init__(self, session: RegistrySession, repository: str) -> None:
        self.session = session
        self.repository = repository
        self.pull_scope: Scope = (repository_scope(repository, "pull"),)
        self.push_scope: Scope = (repository_scope(repository, "pull", "push"),)

    @property
    def name(self) -> str:
        return f"{self.session.host}/{self.repository}"

    def _path(self, *parts: str) -> str:
        return "/v2/" + self.repository + "/" + "/".join(parts)

    # -- manifests -------------------------------------------------------------------------

    def get_manifest(self, reference: str, *, accept: str = ACCEPT) -> FetchedManifest:
        """The manifest or index `reference` (a tag or a digest) names, verified against
        the digest asked for or the one the registry states."""
        what = f"manifest for {self._shown(reference)}"
        response = self.session.request(
            "GET",
            self._path("manifests", reference),
            scope=self.pull_scope,
            headers={"Accept": accept},
            stream=True,
        )
        try:
            if response.status != 200:
                raise registry_error(response, what, self.session.host)
            data = _read_bounded(response, MAX_MANIFEST_SIZE, what, self.session.host)
        finally:
            response.release_conn()
        served = media_type(response.headers.get("Content-Type"))
        kind = _document_type(data, served, what)
        expected: Digest | None = None
        if reference.count(":") == 1 and not _is_tag(reference):
            expected = Digest.parse(reference)
        else:
            stated = response.headers.get("Docker-Content-Digest")
            if stated:
                try:
                    expected = Digest.parse(stated.strip())
                except InvalidArgument:
                    raise RegistryProtocolError(
                        f"{what}: {self.session.host} sent a malformed digest {stated!r}"
                    ) from None
        digest = Digest.of(data, expected.algorithm if expected else "sha256")
        if expected is not None and digest != expected:
            raise DigestMismatch(what, expected, digest)
        return FetchedManifest(data, kind, digest)

    def head_manifest(self, reference: str) -> Descriptor | None:
        response = self.session.request(
            "HEAD",
            self._path("manifests", reference),
            scope=self.pull_scope,
            headers={"Accept": ACCEPT},
        )
        if response.status == 404:
            return None
        if response.status != 200:
            raise registry_error(
                response, f"manifest for {self._shown(reference)}", self.session.host
            )
        stated = response.headers.get("Docker-Content-Digest", "")
        size = response.headers.get("Content-Length", "0")
        if not stated or not size.isdigit():
            return None
        return Descriptor(
            media_type(response.headers.get("Content-Type")) or mt.OCI_MANIFEST,
            Digest.parse(stated),
            int(size),
        )

    def put_manifest(self, reference: str, data: bytes, kind: str) -> tuple[Digest, bool]:
        """Push a manifest or index under a tag or its digest. Returns its digest and
        whether the registry processed its `subject` (the OCI-Subject header)."""
        if len(data) > MAX_MANIFEST_SIZE:
            raise ManifestTooLarge(
                f"manifest for {self._shown(reference)} is {len(data)} bytes, more than the "
                f"{MAX_MANIFEST_SIZE} registries accept"
            )
        what = f"pushing the manifest {self._shown(reference)}"
        response = self.session.request(
            "PUT",
            self._path("manifests", reference),
            scope=self.push_scope,
            headers={"Content-Type": kind},
            body=data,
        )
        if response.status not in (200, 201, 202):
            raise registry_error(response, what, self.session.host)
        digest = Digest.of(data)
        stated = response.headers.get("Docker-Content-Digest")
        if stated and stated.strip() != str(digest):
            raise RegistryProtocolError(
                f"{what}: {self.session.host} stored it as {stated}, not {digest}"
            )
        return digest, bool(response.headers.get("OCI-Subject"))

    def delete_manifest(self, digest: Digest) -> None:
        response = self.session.request(
            "DELETE", self._path("manifests", str(digest)), scope=self.push_scope
        )
        if response.status not in (200, 202):
            raise registry_error(response, f"deleting manifest {digest}", self.session.host)

    # -- blobs ------------------------------------------------------------------------------

    def has_blob(self, digest: Digest, *, push: bool = False) -> bool:
        response = self.session.request(
            "HEAD",
            self._path("blobs", str(digest)),
            scope=self.push_scope if push else self.pull_scope,
        )
        if response.status == 200:
            return True
        if response.status == 404:
            return False
        raise registry_error(response, f"blob {digest} of {self.name}", self.session.host)

    def open_blob(self, descriptor: Descriptor) -> BlobDownload:
        return BlobDownload(
            self.session,
            self._path("blobs", str(descriptor.digest)),
            descriptor,
            self.pull_scope,
            f"{blob_name(descriptor)} of {self.name}",
        )

    def mount_blob(self, digest: Digest, source_repository: str) -> str | None:
        """Ask the registry to link a blob of `source_repository` into this one. None
        when it did; otherwise the upload session it opened instead."""
        query = urlencode({"mount": str(digest), "from": source_repository})
        scope = (*self.push_scope, repository_scope(source_repository, "pull"))
        response = self.session.request(
            "POST",
            self._path("blobs", "uploads/") + "?" + query,
            scope=scope,
            headers={"Content-Length": "0"},
            body=b"",
        )
        if response.status == 201:
            return None
        if response.status == 202:
            return self._location(response, "mounting")
        raise registry_error(
            response, f"mounting {digest} from {source_repository}", self.session.host
        )

    def start_upload(self) -> tuple[str, int]:
        """Open an upload session: its location and the least chunk size it takes."""
        response = self.session.request(
            "POST",
            self._path("blobs", "uploads/"),
            scope=self.push_scope,
            headers={"Content-Length": "0"},
            body=b"",
        )
        if response.status != 202:
            raise registry_error(response, f"starting an upload to {self.name}", self.session.host)
        minimum = response.headers.get("OCI-Chunk-Min-Length", "0")
        return self._location(response, "starting an upload"), int(
            minimum
        ) if minimum.isdigit() else 0

    def upload_blob(
        self,
        descriptor: Descriptor,
        stream: BlobReader,
        *,
        location: str | None = None,
        chunk_size: int | None = None,
    ) -> None:
        """Push a blob, verifying it as it is read: one PUT (monolithic) or, with
        `chunk_size`, PATCHes of that size and a closing PUT; a chunk whose connection
        broke is sent again from where the registry says it got to. The upload session is
        cancelled if anything fails."""
        minimum = 0
        if location is None:
            location, minimum = self.start_upload()
        pieces = _VerifiedPieces(stream, descriptor)
        try:
            if chunk_size is None:
                self._put_whole(location, descriptor, pieces)
            else:
                self._put_chunks(location, descriptor, pieces, max(chunk_size, minimum, 1))
        except BaseException:
            self.cancel_upload(location)
            raise

    def _put_whole(self, location: str, descriptor: Descriptor, pieces: _VerifiedPieces) -> None:
        response = self.session.request(
            "PUT",
            _with_query(location, digest=str(descriptor.digest)),
            scope=self.push_scope,
            headers={
                "Content-Type": "application/octet-stream",
                "Content-Length": str(descriptor.size),
            },
            body=pieces.iterate(),
        )
        self._check_created(response, descriptor)

    def _put_chunks(
        self, location: str, descriptor: Descriptor, pieces: _VerifiedPieces, size: int
    ) -> None:
        offset = 0
        for chunk in pieces.chunks(size):
            location, offset = self._patch(location, chunk, offset, descriptor)
        response = self.session.request(
            "PUT",
            _with_query(location, digest=str(descriptor.digest)),
            scope=self.push_scope,
            headers={"Content-Length": "0"},
            body=b"",
        )
        self._check_created(response, descriptor)

    def _patch(
        self, location: str, chunk: bytes, offset: int, descriptor: Descriptor
    ) -> tuple[str, int]:
        end = offset + len(chunk)
        sent_from = offset
        for _ in range(CHUNK_RETRIES):
            part = chunk[sent_from - offset :]
            try:
                response = self.session.request(
                    "PATCH",
                    location,
                    scope=self.push_scope,
                    headers={
                        "Content-Type": "application/octet-stream",
                        "Content-Range": f"{sent_from}-{end - 1}",
                        "Content-Length": str(len(part)),
                    },
                    body=part,
                )
            except RegistryUnavailable:
                location, sent_from = self._upload_status(location, offset, end)
                continue
            if response.status == 202:
                got = parse_range(response.headers.get("Range"))
                if got is not None and got[1] + 1 != end:
                    raise RegistryProtocolError(
                        f"uploading {blob_name(descriptor)}: {self.session.host} has "
                        f"{got[1] + 1} bytes, {end} were sent"
                    )
                return self._location(response, "uploading a chunk"), end
            if response.status == 416:
                location, sent_from = self._upload_status(location, offset, end)
                continue
            raise registry_error(response, f"uploading {blob_name(descriptor)}", self.session.host)
        raise RegistryUnavailable(
            f"uploading {blob_name(descriptor)} to {self.name}: the chunk at byte {offset} "
            f"failed {CHUNK_RETRIES} times",
            hint="the network or the registry is unreliable; try again",
        )

    def _upload_status(self, location: str, low: int, high: int) -> tuple[str, int]:
        """Where an upload session stands (GET on it): its location and next offset,
        which must be inside the chunk being sent."""
        response = self.session.request("GET", location, scope=self.push_scope)
        if response.status != 204:
            raise registry_error(response, f"the upload session of {self.name}", self.session.host)
        got = parse_range(response.headers.get("Range"))
        done = 0 if got is None else got[1] + 1
        if not low <= done <= high:
            raise RegistryProtocolError(
                f"uploading to {self.name}: the registry has {done} bytes, not between "
                f"{low} and {high}"
            )
        return self._location(response, "resuming an upload"), done

    def _check_created(self, response: BaseHTTPResponse, descriptor: Descriptor) -> None:
        if response.status != 201:
            raise registry_error(response, f"uploading {blob_name(descriptor)}", self.session.host)
        stated = response.headers.get("Docker-Content-Digest")
        if stated and stated.strip() != str(descriptor.digest):
            raise RegistryProtocolError(
                f"uploading {blob_name(descriptor)}: {self.session.host} stored {stated}"
            )

    def cancel_upload(self, location: str) -> None:
        try:
            response = self.session.request("DELETE", location, scope=self.push_scope)
            response.release_conn()
        except Exception:
            pass

    def _location(self, response: BaseHTTPResponse, what: str) -> str:
        location = response.headers.get("Location")
        if not location:
            raise RegistryProtocolError(
                f"{what} on {self.name}: {self.session.host} sent no Location header"
            )
        from urllib.parse import urljoin

        return urljoin(self.session.base + "/", location)

    # -- tags and referrers -----------------------------------------------------------------

    def tags(self, page: int = PAGE) -> list[str]:
        """Every tag, following the Link header from page to page."""
        out: list[str] = []
        url: str | None = self.session.url(self._path("tags", "list") + f"?n={page}")
        pages = 0
        while url is not None and pages < 10_000:
            pages += 1
            document, url = self._get_page(url, f"the tags of {self.name}", self.pull_scope)
            tags = document.get("tags") or []
            if not isinstance(tags, list) or not all(isinstance(t, str) for t in tags):
                raise RegistryProtocolError(f"the tags of {self.name}: not a list of strings")
            out.extend(tags)
        return out

    def _get_page(self, url: str, what: str, scope: Scope) -> tuple[dict[str, Any], str | None]:
        response = self.session.request("GET", url, scope=scope, stream=True)
        try:
            if response.status != 200:
                raise registry_error(response, what, self.session.host)
            data = _read_bounded(response, MAX_LIST_SIZE, what, self.session.host)
        finally:
            response.release_conn()
        document = load_json(data, what)
        return document, next_link(response.headers.get("Link"), url)

    def referrers(self, digest: Digest, artifact_type: str = "") -> list[Descriptor]:
        """The manifests whose subject is `digest`: the referrers API, else (a 404) the
        referrers tag schema; no referrers when neither has any."""
        query = "?" + urlencode({"artifactType": artifact_type}) if artifact_type else ""
        url: str | None = self.session.url(self._path("referrers", str(digest)) + query)
        found: list[Descriptor] = []
        first = True
        while url is not None:
            response = self.session.request(
                "GET", url, scope=self.pull_scope, headers={"Accept": mt.OCI_INDEX}, stream=True
            )
            try:
                if response.status == 404 and first:
                    return self._referrers_by_tag(digest, artifact_type)
                if response.status != 200:
                    raise registry_error(response, f"referrers of {digest}", self.session.host)
                data = _read_bounded(response, MAX_MANIFEST_SIZE, "referrers", self.session.host)
            finally:
                response.release_conn()
            first = False
            index = Index.from_json(load_json(data, "referrers index"), "referrers index")
            filtered = response.headers.get("OCI-Filters-Applied", "")
            for entry in index.manifests:
                unfiltered = artifact_type and "artifactType" not in filtered
                if unfiltered and entry.artifact_type != artifact_type:
                    continue
                found.append(entry)
            url = next_link(response.headers.get("Link"), url)
        return found

    def _referrers_by_tag(self, digest: Digest, artifact_type: str) -> list[Descriptor]:
        index = self._referrers_index(digest)
        if index is None:
            return []
        return [e for e in index.manifests if not artifact_type or e.artifact_type == artifact_type]

    def _referrers_index(self, digest: Digest) -> Index | None:
        try:
            fetched = self.get_manifest(referrers_tag(digest), accept=mt.OCI_INDEX)
        except ManifestUnknown:
            return None
        if fetched.media_type != mt.OCI_INDEX:
            return None
        try:
            return Index.from_json(load_json(fetched.data, "referrers index"), "referrers index")
        except InvalidArgument:
            return None

    def add_referrer(self, subject: Digest, entry: Descriptor) -> None:
        """Record `entry` (a manifest with a subject) in the referrers tag of `subject`,
        for registries without the referrers API."""
        index = self._referrers_index(subject) or Index((), media_type=mt.OCI_INDEX)
        if any(e.digest == entry.digest for e in index.manifests):
            return
        updated = Index((*index.manifests, entry), media_type=mt.OCI_INDEX)
        self.put_manifest(referrers_tag(subject), canonical_bytes(updated), mt.OCI_INDEX)

    def _shown(self, reference: str) -> str:
        separator = ":" if _is_tag(reference) else "@"
        return f"{self.name}{separator}{reference}"


def check_login(session: RegistrySession) -> None:
    """Prove the session's credentials work: GET /v2/ answered 200 with them (for a
    bearer registry, after a token was issued for them)."""
    from capsa.transport.registry.errors import AuthenticationFailed

    session.base  # noqa: B018 - the first GET /v2/ learns the authentication scheme
    auth = session.auth
    if auth.scheme == "":
        return  # an open registry: anything goes
    response = session.request("GET", "/v2/")
    if response.status == 200:
        return
    who = auth.credentials.username if auth.credentials else ""
    if response.status == 401:
        raise AuthenticationFailed(
            f"cannot log in to {session.host} as {who!r}: wrong username or password",
            hint=f"check them and run capsa login {session.host} again",
        )
    raise registry_error(response, f"logging in to {session.host}", session.host)


def catalog(session: RegistrySession, page: int = PAGE, limit: int | None = None) -> list[str]:
    """The registry's repositories (`/v2/_catalog`), page by page."""
    client = RegistryClient(session, "")
    out: list[str] = []
    url: str | None = session.url(f"/v2/_catalog?n={page}")
    scope = ("registry:catalog:*",)
    while url is not None and (limit is None or len(out) < limit):
        document, url = client._get_page(url, f"the catalog of {session.host}", scope)
        names = document.get("repositories") or []
        if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
            raise RegistryProtocolError(f"the catalog of {session.host}: not a list of names")
        out.extend(names)
    return out if limit is None else out[:limit]


def search_v1(session: RegistrySession, term: str, limit: int) -> list[dict[str, Any]] | None:
    """Docker Hub's search API (`/v1/search`); None where the registry has none."""
    url = session.url("/v1/search?" + urlencode({"q": term, "n": str(limit)}))
    response = session.request("GET", url, stream=True)
    try:
        if response.status != 200:
            response.drain_conn()
            return None
        data = _read_bounded(response, MAX_LIST_SIZE, "search results", session.host)
    finally:
        response.release_conn()
    try:
        document = json.loads(data)
    except ValueError:
        return None
    results = document.get("results") if isinstance(document, dict) else None
    if not isinstance(results, list):
        return None
    return [r for r in results if isinstance(r, dict)]


class _VerifiedPieces:
    """A blob read in pieces for upload, hashed and counted; a blob that is too long, too
    short or hashes wrong raises before its last piece goes out, so the registry never
    receives a complete wrong blob."""

    def __init__(self, stream: BlobReader, descriptor: Descriptor) -> None:
        self._stream = stream
        self._descriptor = descriptor
        self._hasher = descriptor.digest.hasher()
        self._done = 0

    def _next(self, size: int) -> bytes:
        expected = self._descriptor.size
        data = self._stream.read(min(size, expected - self._done + 1))
        self._done += len(data)
        if self._done > expected:
            raise SizeMismatch(blob_name(self._descriptor), expected, self._done)
        if not data and self._done < expected:
            raise SizeMismatch(blob_name(self._descriptor), expected, self._done)
        self._hasher.update(data)
        if self._done == expected:
            if self._stream.read(1):
                raise SizeMismatch(blob_name(self._descriptor), expected, expected + 1)
            actual = Digest(self._descriptor.digest.algorithm, self._hasher.hexdigest())
            if actual != self._descriptor.digest:
                raise DigestMismatch(blob_name(self._descriptor), self._descriptor.digest, actual)
        return data

    def iterate(self) -> Iterator[bytes]:
        while self._done < self._descriptor.size:
            yield self._next(CHUNK)

    def chunks(self, size: int) -> Iterator[bytes]:
        if self._descriptor.size == 0:
            self._next(1)
            return
        while self._done < self._descriptor.size:
            parts: list[bytes] = []
            want = size
            while want > 0 and self._done < self._descriptor.size:
                piece = self._next(min(CHUNK, want))
                parts.append(piece)
                want -= len(piece)
            yield b"".join(parts)


def _read_bounded(response: BaseHTTPResponse, limit: int, what: str, host: str) -> bytes:
    declared = response.headers.get("Content-Length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        response.close()
        raise ManifestTooLarge(
            f"{what}: {host} sent {int(declared)} bytes, more than the {limit} a client reads",
            hint="the registry or something between is misbehaving; nothing was stored",
        )
    parts: list[bytes] = []
    total = 0
    while True:
        data = response.read(min(CHUNK, limit + 1 - total))
        if not data:
            break
        parts.append(data)
        total += len(data)
        if total > limit:
            response.close()
            raise ManifestTooLarge(
                f"{what}: {host} sent more than the {limit} bytes a client reads",
                hint="the registry or something between is misbehaving; nothing was stored",
            )
    return b"".join(parts)


def _document_type(data: bytes, served: str, what: str) -> str:
    """A manifest's media type: its own mediaType field, checked against Content-Type."""
    if mt.is_schema1(served):
        raise InvalidArgument(
            f"{what} is a Docker schema 1 manifest, which capsa does not pull",
            hint="push the image again with a current tool (schema 2 or OCI)",
        )
    try:
        document = json.loads(data)
    except ValueError:
        raise RegistryProtocolError(f"{what} is not JSON") from None
    if not isinstance(document, dict):
        raise RegistryProtocolError(f"{what} is not a JSON object")
    declared = document.get("mediaType", "")
    if isinstance(declared, str) and declared:
        if (mt.is_manifest(served) or mt.is_index(served)) and served != declared:
            raise RegistryProtocolError(
                f"{what} says it is {declared} but was served as {served}",
                hint="the registry is inconsistent; refusing rather than guessing",
            )
        return declared
    if mt.is_manifest(served) or mt.is_index(served):
        return served
    return mt.OCI_INDEX if "manifests" in document else mt.OCI_MANIFEST


def _is_tag(reference: str) -> bool:
    return ":" not in reference


def _with_query(location: str, **params: str) -> str:
    separator = "&" if "?" in location else "?"
    return location + separator + "&".join(f"{k}={quote(v, safe=':')}" for k, v in params.items())
