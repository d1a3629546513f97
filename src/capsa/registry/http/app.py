"""The ASGI application: route, refuse what read-only mode forbids, authorize, then hand
the request to its endpoint (capsa.registry.http.blobs, .uploads, .manifests, .discovery).
Every answer carries `Docker-Distribution-API-Version: registry/2.0`; every refusal is
a spec error with its JSON body."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from pathlib import Path

from capsa.registry import gc
from capsa.registry.auth.access import Authorizer, Policy
from capsa.registry.auth.htpasswd import Htpasswd
from capsa.registry.auth.tokens import Access, TokenIssuer
from capsa.registry.errors import RegistryError
from capsa.registry.http import blobs, discovery, manifests, uploads
from capsa.registry.http import routes as r
from capsa.registry.http.asgi import JSON, ClientGone, Receive, Request, Scope, Send, respond
from capsa.registry.names import check_name
from capsa.registry.options import ServeOptions
from capsa.registry.storage import RegistryStorage
from capsa.registry.uploads import Uploads

log = logging.getLogger("capsa.registry")

Handler = Callable[["Registry", Request, Send, r.Route], Awaitable[None]]
READS = ("GET", "HEAD")
WRITES = frozenset({"POST", "PUT", "PATCH", "DELETE"})

# route kind -> method -> handler
ENDPOINTS: dict[str, dict[str, Handler]] = {
    r.BLOB: {"GET": blobs.get, "HEAD": blobs.get, "DELETE": blobs.delete},
    r.UPLOADS: {"POST": uploads.start},
    r.UPLOAD: {
        "GET": uploads.status,
        "PATCH": uploads.patch,
        "PUT": uploads.finish,
        "DELETE": uploads.cancel,
    },
    r.MANIFEST: {
        "GET": manifests.get,
        "HEAD": manifests.get,
        "PUT": manifests.put,
        "DELETE": manifests.delete,
    },
    r.TAGS: {"GET": discovery.tags},
    r.REFERRERS: {"GET": discovery.referrers},
    r.CATALOG: {"GET": discovery.catalog},
}


class Registry:
    """One server's state: its storage, its upload sessions, its authorizer."""

    def __init__(self, options: ServeOptions) -> None:
        self.options = options
        self.storage = RegistryStorage(options.storage)
        self.uploads = Uploads(
            self.storage, timeout=options.upload_timeout, limit=options.max_uploads
        )
        htpasswd = Htpasswd(options.htpasswd) if options.htpasswd is not None else None
        self.authorizer = Authorizer(
            options.auth,
            htpasswd=htpasswd,
            issuer=TokenIssuer(options.service, options.token_lifetime),
            policy=Policy(options.read_only, options.namespace_per_user),
            realm=options.realm,
        )
        self._tasks: list[asyncio.Task[None]] = []

    # -- ASGI ----------------------------------------------------------------------------

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            await self.handle(Request(scope, receive), send)
        elif scope["type"] == "lifespan":
            await self._lifespan(receive, send)

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                self.start_background()
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await self.stop_background()
                await send({"type": "lifespan.shutdown.complete"})
                return

    def start_background(self) -> None:
        self.uploads.expire()
        self._tasks.append(asyncio.create_task(self._expire_uploads()))
        if self.options.gc_interval:
            self._tasks.append(asyncio.create_task(self._collect_garbage(self.options.gc_interval)))

    async def stop_background(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks.clear()
        self.uploads.close()

    async def _expire_uploads(self) -> None:
        period = min(max(self.options.upload_timeout / 4, 0.2), 60.0)
        while True:
            await asyncio.sleep(period)
            try:
                self.uploads.expire()
            except Exception:
                log.exception("expiring abandoned uploads failed")

    async def _collect_garbage(self, interval: float) -> None:
        while True:
            await asyncio.sleep(interval)
            try:
                report = await asyncio.to_thread(
                    gc.collect, self.storage, grace=self.options.gc_grace
                )
                if report.blobs:
                    log.info("gc: removed %d blobs, %d bytes", len(report.blobs), report.freed)
            except Exception:
                log.exception("online garbage collection failed")

    # -- requests ------------------------------------------------------------------------

    async def handle(self, request: Request, send: Send) -> None:
        try:
            await self._dispatch(request, send)
        except RegistryError as error:
            await self.refuse(request, send, error)
        except ClientGone:
            return
        except Exception as error:
            log.exception("%s %s failed", request.method, request.path)
            await self.refuse(request, send, RegistryError("UNKNOWN", f"internal error: {error}"))

    async def refuse(self, request: Request, send: Send, error: RegistryError) -> None:
        headers = [("Content-Type", JSON), *error.headers]
        await respond(send, error.status, headers, error.body(), head=request.method == "HEAD")

    async def _dispatch(self, request: Request, send: Send) -> None:
        route = r.parse(request.path)
        if route is None:
            await respond(
                send, 404, [("Content-Type", "text/plain; charset=utf-8")], b"404 page not found\n"
            )
            return
        method = request.method
        if route.kind == r.TOKEN:
            await discovery.token(self, request, send, route)
            return
        if route.kind == r.BASE:
            if method not in READS:
                raise _not_allowed(READS)
            self.authorizer.authorize(request.headers.get("authorization"), [], request.origin)
            await respond(send, 200, [("Content-Type", JSON)], b"{}")
            return
        handlers = ENDPOINTS[route.kind]
        if method in WRITES and self.options.read_only:
            raise _not_allowed(READS, "the registry is read-only")
        handler = handlers.get(method)
        if handler is None:
            raise _not_allowed(list(handlers))
        if route.kind != r.CATALOG:
            check_name(route.name)
        wanted = self._wanted(request, route)
        self.authorizer.authorize(request.headers.get("authorization"), wanted, request.origin)
        await handler(self, request, send, route)

    def _wanted(self, request: Request, route: r.Route) -> list[Access]:
        """The scopes a request needs, as docker-registry asks for them."""
        if route.kind == r.CATALOG:
            return [Access("registry", "catalog", "*")]
        method = request.method
        if method in READS:
            return [Access("repository", route.name, "pull")]
        if method == "DELETE":
            return [Access("repository", route.name, "delete")]
        wanted = [
            Access("repository", route.name, "pull"),
            Access("repository", route.name, "push"),
        ]
        source = request.param("from")
        if route.kind == r.UPLOADS and request.param("mount") and source:
            check_name(source)
            wanted.append(Access("repository", source, "pull"))
        return wanted


def _not_allowed(methods: list[str] | tuple[str, ...], why: str | None = None) -> RegistryError:
    allowed = ", ".join(methods)
    return RegistryError(
        "UNSUPPORTED",
        why or "the operation is unsupported",
        detail={"allowed": list(methods)},
        headers=[("Allow", allowed)],
    )


def make_app(options: ServeOptions) -> Registry:
    options.check()
    Path(options.storage).mkdir(mode=0o700, parents=True, exist_ok=True)
    return Registry(options)
