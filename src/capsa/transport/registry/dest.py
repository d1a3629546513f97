"""Writing images to a registry: blobs the registry already has are skipped (HEAD), others
mounted from another repository of the same registry when one is known to have them,
else uploaded (one PUT, or chunks), verified as they stream; manifests go by digest, the
last one (the image) by its tag. A manifest with a subject is added to the referrers tag
of its subject when the registry has no referrers API.

Nothing is half-written on the registry side: a blob is only stored by the registry once
its digest checks out, and a failed upload session is cancelled.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from capsa.errors import InvalidArgument
from capsa.oci import media_types as mt
from capsa.oci.descriptor import Descriptor
from capsa.oci.manifest import Manifest, parse_manifest_or_index
from capsa.oci.media_types import Compression
from capsa.transport.registry.client import RegistryClient
from capsa.transport.registry.connect import RegistryOptions, endpoints, session_for
from capsa.transport.verify import verify_digest

if TYPE_CHECKING:
    from capsa.oci.digest import Digest
    from capsa.oci.reference import Reference
    from capsa.transport.types import BlobReader

REGISTRY_MANIFEST_TYPES = frozenset(
    {mt.OCI_MANIFEST, mt.OCI_INDEX, mt.DOCKER_MANIFEST, mt.DOCKER_MANIFEST_LIST}
)
ALL_COMPRESSIONS = frozenset(Compression)

# (blob, what happened) for progress output: "Mounted from library/busybox"
BlobEvent = Callable[[Descriptor, str], None]


class RegistryDestination:
    """Images pushed to `reference` (normalised). `mount_from` lists repositories of the
    same registry that may hold the blobs (tried before uploading)."""

    concurrent_blobs = True
    # Registries refuse an index whose manifests they do not hold.
    sparse_indexes = False
    manifest_types = REGISTRY_MANIFEST_TYPES
    layer_compressions = ALL_COMPRESSIONS

    def __init__(
        self,
        reference: Reference,
        options: RegistryOptions | None = None,
        description: str = "",
        *,
        mount_from: Sequence[str] = (),
        events: BlobEvent | None = None,
    ) -> None:
        self.reference = reference
        self.options = options or RegistryOptions.from_environ()
        self.description = description or f"docker://{reference}"
        endpoint = endpoints(
            reference.domain, reference.path, self.options, by_digest=False, pull=False
        )[-1]
        session = session_for(
            endpoint.host, self.options, insecure=endpoint.insecure, repository=endpoint.repository
        )
        self.client = RegistryClient(session, endpoint.repository)
        self._mount_from = [r for r in mount_from if r != endpoint.repository]
        self._events = events
        self._pending: tuple[bytes, str, Digest] | None = None
        self.pushed: Descriptor | None = None

    def has_blob(self, digest: Digest) -> bool:
        return self.client.has_blob(digest, push=True)

    def put_blob(self, descriptor: Descriptor, stream: BlobReader) -> None:
        location: str | None = None
        for position, repository in enumerate(self._mount_from):
            opened = self.client.mount_blob(descriptor.digest, repository)
            if opened is None:
                if self._events is not None:
                    self._events(descriptor, f"Mounted from {repository}")
                return
            if position + 1 < len(self._mount_from):
                self.client.cancel_upload(opened)
            else:
                location = opened  # the last refusal's upload session is used
        self.client.upload_blob(
            descriptor, stream, location=location, chunk_size=self.options.chunk_size
        )

    def put_manifest(self, data: bytes, media_type: str, digest: Digest) -> None:
        verify_digest(data, digest, f"the {media_type} document")
        if self._pending is not None:
            self._push(*self._pending, str(self._pending[2]))
        self._pending = (data, media_type, digest)

    def commit(self, name: str | None = None) -> None:
        if self._pending is None:
            raise InvalidArgument(f"{self.description}: nothing to commit (no manifest put)")
        data, media_type, digest = self._pending
        reference = self.reference
        if name is not None:
            from capsa.oci.reference import parse_reference

            reference = parse_reference(name)
        if reference.digest is not None and reference.digest != digest:
            raise InvalidArgument(
                f"cannot push to {reference}: the image's digest is {digest}",
                hint="push by tag, or name the digest the image has",
            )
        self._push(data, media_type, digest, reference.tag or str(digest))
        self._pending = None
        self.pushed = Descriptor(media_type, digest, len(data))

    def _push(self, data: bytes, media_type: str, digest: Digest, where: str) -> None:
        _, processed = self.client.put_manifest(where, data, media_type)
        if processed or (not mt.is_manifest(media_type) and not mt.is_index(media_type)):
            return
        document = parse_manifest_or_index(data, media_type)
        if document.subject is None:
            return
        artifact = document.artifact_type
        if not artifact and isinstance(document, Manifest):
            artifact = document.config.media_type
        entry = Descriptor(
            media_type,
            digest,
            len(data),
            artifact_type=artifact,
            annotations=dict(document.annotations),
        )
        self.client.add_referrer(document.subject.digest, entry)

    def close(self) -> None:
        self.client.session.close()

    def abort(self) -> None:
        self.client.session.close()
