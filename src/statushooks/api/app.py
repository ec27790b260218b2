"""The FastAPI application factory: ``create_app(settings, store)`` — no import-time globals."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator

from fastapi import FastAPI
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from statushooks import __version__, http, service, sms, supervisor, tracing
from statushooks.api import errors, openapi
from statushooks.api.routes import (
    accounts,
    connectors,
    deliveries,
    endpoints,
    event_types,
    events,
    health,
    inbound,
    links,
    messages,
    portal_links,
    status,
)
from statushooks.config import Settings
from statushooks.dashboard import mount as mount_dashboard
from statushooks.storage.sql import Store

MAX_BODY_BYTES = 1024 * 1024  # 1 MiB
#: An oversized body up to this size is read (and dropped) before the 413 goes out.
DRAIN_LIMIT_BYTES = 64 * 1024 * 1024
logger = logging.getLogger(__name__)

DESCRIPTION = """Delivery-status webhooks for SMS, email and voice.

Every `/v1/*` route needs `Authorization: Bearer <API key>` (account routes: the admin token).
Errors are RFC 9457 `application/problem+json`. Lists page with `?limit=` and `?after=`.
Creating POSTs accept an `Idempotency-Key` header.
"""


def create_app(
    settings: Settings,
    store: Store | None = None,
    *,
    run_dispatcher: bool = False,
    dispatcher_process: bool = False,
    upgrade: bool = True,
) -> FastAPI:
    """The API; it opens (and migrates) the database unless given a ``store``.

    Args:
        settings: the configuration.
        store: an open store to use (and leave open); None to open ``settings.database_url``.
        run_dispatcher: also deliver webhooks (``statushooks serve``).
        dispatcher_process: deliver from a child process (``supervisor``), not this one;
            in this one anyway if the database is SQLite in memory (a child could not see it).
        upgrade: migrate the database when opening it (not in ``serve --workers N``'s API
            processes: their parent did).
    """

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        own_store = store is None
        opened = (
            await Store.open(settings.database_url, upgrade=upgrade) if store is None else store
        )
        client = http.HttpClient.from_settings(settings)
        app.state.service = service.Service(
            store=opened,
            settings=settings,
            pricing=sms.PricingTable.load(settings.pricing_file),
            http_client=client,
        )
        try:
            async with supervisor.dispatching(
                opened, settings, run=run_dispatcher, apart=dispatcher_process
            ):
                yield
        finally:
            await client.close()
            if own_store:
                await opened.close()

    app = FastAPI(
        title="statushooks",
        version=__version__,
        description=DESCRIPTION,
        lifespan=lifespan,
        docs_url=None,  # served by openapi.install, without a CDN
        redoc_url=None,
    )
    errors.install(app)
    # The routes called for every message come first (a platform's sends and status reports,
    # a provider's callbacks): FastAPI tries the routes in order on every request.
    app.include_router(messages.router)
    app.include_router(status.router)
    app.include_router(connectors.hooks)
    for module in (
        accounts,
        endpoints,
        events,
        deliveries,
        event_types,
        inbound,
        links,
        connectors,
        portal_links,
        health,
    ):
        app.include_router(module.router)
    openapi.install(app)
    # Mounted last: the API's routes match before these are tried.
    mount_dashboard(app, lambda: app.state.service)
    app.add_middleware(BodyLimitMiddleware, max_bytes=MAX_BODY_BYTES)
    if tracing.active() or tracing.configure():
        app.add_middleware(tracing.TracingMiddleware)  # outermost: spans the whole request
    return app


class BodyLimitMiddleware:
    """Answer 413 (problem+json) to a request body over ``max_bytes``, declared or streamed.

    The body is read up front (at most ``max_bytes``) and replayed to the app, so an oversized
    request never reaches a route and never changes stored state.
    """

    def __init__(self, app: ASGIApp, *, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if _has_nul(scope):
            response = errors.problem_of("validation", "the URL may not contain NUL characters")
            await response(scope, receive, send)
            return
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
            await self._too_large(scope, receive, send, size=0)
            return
        chunks: list[bytes] = []
        size = 0
        more = True
        while more:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            chunk = message.get("body", b"")
            size += len(chunk)
            more = message.get("more_body", False)
            if size > self.max_bytes:
                await self._too_large(scope, receive, send, size=size if more else -1)
                return
            chunks.append(chunk)
        body = b"".join(chunks)
        await self.app(scope, _replay(body, receive), send)

    async def _too_large(self, scope: Scope, receive: Receive, send: Send, *, size: int) -> None:
        """Answer 413; read and drop a moderately large rest first, so clients see the answer.

        ``size`` is how much was read so far, or -1 once the whole body was read.
        """
        response = errors.problem_of(
            "payload-too-large", f"request bodies may be at most {self.max_bytes} bytes"
        )
        while size >= 0:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            size += len(message.get("body", b""))
            if size > DRAIN_LIMIT_BYTES:
                response.headers["Connection"] = "close"
                break
            if not message.get("more_body", False):
                break
        await response(scope, receive, send)


def _has_nul(scope: Scope) -> bool:
    raw = bytes(scope.get("raw_path") or scope["path"].encode()) + scope.get("query_string", b"")
    return b"\x00" in raw or b"%00" in raw or "\x00" in scope["path"]


def _replay(body: bytes, receive: Receive) -> Receive:
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay
