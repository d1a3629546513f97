"""Content discovery: `tags/list` and `_catalog` (with `n`/`last` pages and a `Link`
to the next one), `referrers/<digest>` (with an `artifactType` filter), and the token
endpoint of token auth."""

from __future__ import annotations

import bisect
import json
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, urlencode

from capsa.oci import media_types as mt
from capsa.registry.errors import RegistryError
from capsa.registry.http.asgi import JSON, Request, Send, respond
from capsa.registry.http.routes import Route
from capsa.registry.names import parse_digest

if TYPE_CHECKING:
    from capsa.registry.http.app import Registry

FORM = "application/x-www-form-urlencoded"


def _page(request: Request, items: list[str], path: str) -> tuple[list[str], list[tuple[str, str]]]:
    """The page of sorted `items` that `n` and `last` ask for, and a Link header when
    more follow (never when n is 0, as the spec says)."""
    text = request.param("n")
    last = request.param("last")
    if last:
        items = items[bisect.bisect_right(items, last) :]
    if text is None or text == "":
        return items, []
    try:
        count = int(text)
    except ValueError:
        raise RegistryError(
            "UNSUPPORTED", f"n must be a number, not {text!r}", detail={"n": text}, status=400
        ) from None
    if count < 0:
        raise RegistryError("UNSUPPORTED", "n must not be negative", detail={"n": text}, status=400)
    page = items[:count]
    if count == 0 or len(items) <= count:
        return page, []
    link = f'<{path}?{urlencode({"n": count, "last": page[-1]})}>; rel="next"'
    return page, [("Link", link)]


def _json(document: dict[str, Any]) -> bytes:
    return json.dumps(document, separators=(",", ":")).encode()


async def tags(registry: Registry, request: Request, send: Send, route: Route) -> None:
    storage = registry.storage
    if not storage.repository_exists(route.name):
        raise RegistryError("NAME_UNKNOWN", detail={"name": route.name})
    page, headers = _page(request, storage.tags(route.name), f"/v2/{route.name}/tags/list")
    body = _json({"name": route.name, "tags": page})
    await respond(send, 200, [("Content-Type", JSON), *headers], body)


async def catalog(registry: Registry, request: Request, send: Send, route: Route) -> None:
    page, headers = _page(request, registry.storage.repositories(), "/v2/_catalog")
    await respond(send, 200, [("Content-Type", JSON), *headers], _json({"repositories": page}))


async def referrers(registry: Registry, request: Request, send: Send, route: Route) -> None:
    subject = parse_digest(route.arg)
    found = registry.storage.referrers(route.name, subject)
    headers = [("Content-Type", mt.OCI_INDEX)]
    wanted = request.param("artifactType")
    if wanted is not None:
        found = [entry for entry in found if entry.get("artifactType") == wanted]
        headers.append(("OCI-Filters-Applied", "artifactType"))
    body = _json({"schemaVersion": 2, "mediaType": mt.OCI_INDEX, "manifests": found})
    await respond(send, 200, headers, body)


async def token(registry: Registry, request: Request, send: Send, route: Route) -> None:
    if request.method not in ("GET", "POST"):
        raise RegistryError("UNSUPPORTED", headers=[("Allow", "GET, POST")])
    form: dict[str, list[str]] = {}
    if request.method == "POST":
        content_type = request.headers.get("content-type", "").split(";", 1)[0].strip()
        too_large = RegistryError("UNSUPPORTED", "token request too large", status=413)
        data = await request.body(64 << 10, too_large)
        if content_type == FORM:
            form = parse_qs(data.decode("latin-1"), keep_blank_values=True)
    answer = registry.authorizer.token(request.headers.get("authorization"), request.query, form)
    await respond(send, 200, [("Content-Type", JSON)], _json(answer))
