"""GET, HEAD, PUT and DELETE of `/v2/<name>/manifests/<tag-or-digest>`."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

from capsa.oci.digest import Digest
from capsa.registry.errors import RegistryError
from capsa.registry.http.asgi import Request, Send, respond
from capsa.registry.http.routes import Route
from capsa.registry.manifests import PushedManifest, accepts, check_manifest
from capsa.registry.names import is_tag, parse_digest

if TYPE_CHECKING:
    from capsa.registry.http.app import Registry


def _reference(route: Route) -> tuple[str | None, Digest | None]:
    """(tag, None) or (None, digest) from the last path segment."""
    if is_tag(route.arg):
        return route.arg, None
    if ":" not in route.arg:
        raise RegistryError(
            "MANIFEST_INVALID",
            f"{route.arg!r} is neither a tag nor a digest",
            detail={"reference": route.arg},
        )
    return None, parse_digest(route.arg)


def _resolve(registry: Registry, route: Route) -> Digest:
    tag, digest = _reference(route)
    if tag is not None:
        digest = registry.storage.resolve_tag(route.name, tag)
        if digest is None:
            raise RegistryError("MANIFEST_UNKNOWN", detail={"Tag": tag})
    assert digest is not None
    return digest


async def get(registry: Registry, request: Request, send: Send, route: Route) -> None:
    digest = _resolve(registry, route)
    storage = registry.storage
    media_type = storage.manifest_type(route.name, digest)
    size = storage.stored_size(digest) if media_type is not None else None
    if media_type is None or size is None:
        raise RegistryError("MANIFEST_UNKNOWN", detail={"Digest": str(digest)})
    accept = request.headers.get("accept")
    if not accepts([accept] if accept else [], media_type):
        raise RegistryError(
            "MANIFEST_UNKNOWN",
            f"the manifest is {media_type}, which the Accept header does not include",
            detail={"Digest": str(digest), "mediaType": media_type},
        )
    headers = [
        ("Content-Type", media_type),
        ("Docker-Content-Digest", str(digest)),
        ("Etag", f'"{digest}"'),
    ]
    if request.method == "HEAD":
        await respond(send, 200, headers, head=True, length=size)
        return
    found = storage.read_manifest(route.name, digest)
    if found is None:
        raise RegistryError("MANIFEST_UNKNOWN", detail={"Digest": str(digest)})
    await respond(send, 200, headers, found[0])


def _missing(registry: Registry, name: str, pushed: PushedManifest) -> list[RegistryError]:
    """MANIFEST_BLOB_UNKNOWN for each blob or child manifest the repository lacks, and
    MANIFEST_INVALID where a descriptor's size is not the blob's."""
    storage = registry.storage
    errors: list[RegistryError] = []
    for descriptor in pushed.blobs:
        size = storage.blob_size(name, descriptor.digest)
        if size is None:
            errors.append(RegistryError("MANIFEST_BLOB_UNKNOWN", detail=str(descriptor.digest)))
        elif size != descriptor.size:
            errors.append(
                RegistryError(
                    "MANIFEST_INVALID",
                    f"descriptor of {descriptor.digest} says {descriptor.size} bytes, "
                    f"the blob has {size}",
                    detail={"digest": str(descriptor.digest), "size": size},
                )
            )
    for descriptor in pushed.children:
        if storage.manifest_type(name, descriptor.digest) is None:
            errors.append(
                RegistryError(
                    "MANIFEST_BLOB_UNKNOWN",
                    "manifest unknown to registry",
                    detail=str(descriptor.digest),
                )
            )
    return errors


async def put(registry: Registry, request: Request, send: Send, route: Route) -> None:
    name = route.name
    tag, wanted = _reference(route)
    extra_tags = request.query.get("tag", []) if tag is None else []
    for extra in extra_tags:
        if not is_tag(extra):
            raise RegistryError("MANIFEST_INVALID", f"invalid tag {extra!r}", detail={"tag": extra})
    limit = registry.options.max_manifest_size
    too_large = RegistryError(
        "MANIFEST_INVALID",
        f"manifest is larger than {limit} bytes",
        detail={"limit": limit},
        status=413,
    )
    data = await request.body(limit, too_large)
    pushed = check_manifest(data, request.headers.get("content-type"))
    digest = Digest.of(data, wanted.algorithm if wanted is not None else "sha256")
    if wanted is not None and digest != wanted:
        raise RegistryError(
            "DIGEST_INVALID",
            f"the manifest's digest is {digest}, not {wanted}",
            detail={"digest": str(wanted), "actual": str(digest)},
        )
    errors = _missing(registry, name, pushed)
    if errors:
        errors[0].more = errors[1:]
        raise errors[0]
    tags = [tag] if tag is not None else extra_tags
    await asyncio.to_thread(_store, registry, name, data, digest, pushed, tags)
    headers = [
        ("Location", f"/v2/{name}/manifests/{digest}"),
        ("Docker-Content-Digest", str(digest)),
    ]
    if pushed.subject is not None:
        headers.append(("OCI-Subject", str(pushed.subject.digest)))
    if extra_tags:
        headers.append(("OCI-Tag", ", ".join(extra_tags)))
    await respond(send, 201, headers)


def _store(
    registry: Registry,
    name: str,
    data: bytes,
    digest: Digest,
    pushed: PushedManifest,
    tags: list[str],
) -> None:
    storage = registry.storage
    for descriptor in pushed.blobs:
        storage.link_blob(name, descriptor.digest)  # touched: a running GC keeps them
    storage.put_manifest(name, data, digest, pushed.media_type)
    if pushed.subject is not None:
        storage.add_referrer(name, pushed.subject.digest, pushed.referrer(digest, len(data)))
    for tag in tags:
        storage.tag(name, tag, digest)


async def delete(registry: Registry, request: Request, send: Send, route: Route) -> None:
    name = route.name
    storage = registry.storage
    if not storage.repository_exists(name):
        raise RegistryError("NAME_UNKNOWN", detail={"name": name})
    tag, digest = _reference(route)
    if tag is not None:
        if not await asyncio.to_thread(storage.untag, name, tag):
            raise RegistryError("MANIFEST_UNKNOWN", detail={"Tag": tag})
        await respond(send, 202, [])
        return
    assert digest is not None
    found = storage.read_manifest(name, digest)
    if found is None:
        raise RegistryError("MANIFEST_UNKNOWN", detail={"Digest": str(digest)})
    await asyncio.to_thread(_delete, registry, name, digest, found[0], found[1])
    await respond(send, 202, [])


def _delete(registry: Registry, name: str, digest: Digest, data: bytes, media_type: str) -> None:
    storage = registry.storage
    try:
        pushed = check_manifest(data, media_type)
    except RegistryError:
        pushed = None  # stored before a stricter check: it can have no referrer entry
    storage.delete_manifest(name, digest)
    if pushed is not None and pushed.subject is not None:
        storage.remove_referrer(name, pushed.subject.digest, digest)
