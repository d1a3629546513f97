"""Reading an image from a registry: the manifest the reference names (from the first
mirror or registry that has it), the manifests it lists, and blobs streamed as they come
off the network, resumed after a broken connection. The destination verifies every blob;
manifests are verified here against the digest asked for or the one the registry states."""

from __future__ import annotations

from typing import TYPE_CHECKING

from capsa.errors import CapsaError, NotFound, PermissionDenied
from capsa.transport.registry.connect import RegistryOptions, clients

if TYPE_CHECKING:
    from capsa.oci.descriptor import Descriptor
    from capsa.oci.digest import Digest
    from capsa.oci.reference import Reference
    from capsa.transport.registry.blobs import BlobDownload
    from capsa.transport.registry.client import FetchedManifest, RegistryClient


class RegistrySource:
    """The image `reference` (normalised: `docker.io/library/busybox:latest`) names."""

    concurrent_blobs = True  # get_blob may be called from several threads at once

    def __init__(
        self, reference: Reference, options: RegistryOptions | None = None, description: str = ""
    ) -> None:
        self.reference = reference
        self.options = options or RegistryOptions.from_environ()
        self.description = description or f"docker://{reference}"
        wanted = str(reference.digest) if reference.digest is not None else reference.tag
        if wanted is None:
            wanted = "latest"
        self.client, self.manifest = self._find(wanted)

    def _find(self, wanted: str) -> tuple[RegistryClient, FetchedManifest]:
        """The first endpoint (mirrors, then the registry) that serves the manifest. A
        failure other than not-found or refused at a mirror moves on to the next place;
        the registry's own error is the one reported."""
        reference = self.reference
        failures: list[CapsaError] = []
        for client in clients(
            reference.domain,
            reference.path,
            self.options,
            by_digest=reference.digest is not None,
            pull=True,
        ):
            try:
                return client, client.get_manifest(wanted)
            except CapsaError as exc:
                client.session.close()
                failures.append(exc)
        for failure in reversed(failures):  # the registry's own answer comes last
            if isinstance(failure, (NotFound, PermissionDenied)):
                raise failure
        raise failures[-1]

    def top_manifest(self) -> tuple[bytes, str]:
        return self.manifest.data, self.manifest.media_type

    def get_manifest(self, digest: Digest) -> bytes:
        return self.client.get_manifest(str(digest)).data

    def get_blob(self, descriptor: Descriptor) -> BlobDownload:
        return self.client.open_blob(descriptor)

    def has_blob(self, descriptor: Descriptor) -> bool:
        """Asked with a HEAD request: manifests under /manifests/, the rest /blobs/."""
        from capsa.oci import media_types as mt

        if mt.is_manifest(descriptor.media_type) or mt.is_index(descriptor.media_type):
            return self.client.head_manifest(str(descriptor.digest)) is not None
        return self.client.has_blob(descriptor.digest)

    def close(self) -> None:
        self.client.session.close()
