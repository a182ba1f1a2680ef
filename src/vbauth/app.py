"""The ASGI application."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from functools import partial

import anyio
from fastapi import FastAPI
from starlette.middleware.cors import CORSMiddleware
from starlette.types import ASGIApp, Receive, Scope, Send

from vbauth import __version__
from vbauth.admin import routes as admin_routes
from vbauth.api import (
    accesskeys,
    account,
    agents,
    audit_events,
    auth,
    customer,
    customers,
    directs,
    docs,
    events,
    health,
    jwks,
    me,
    metrics,
    openapi,
    service_agents,
    unregister,
    ws,
)
from vbauth.api.cached_reads import CACHED_READS
from vbauth.api.errors import install_error_handlers
from vbauth.api.front import API_PREFIX, Dispatch, Front
from vbauth.api.gateway import HotRoutes
from vbauth.api.middleware import JsonBodyMiddleware
from vbauth.background import every
from vbauth.health import sample_gauges
from vbauth.logs import lean_log_records
from vbauth.metrics import process_ended
from vbauth.metrics import requests as request_metrics
from vbauth.runtime import Runtime
from vbauth.settings import Settings, get_settings

GAUGE_SECONDS = 15  # how often pool use, outbox depth and Redis are sampled for the metrics

ROUTERS = (
    health.router,
    metrics.router,
    jwks.router,
    auth.router,
    unregister.router,
    account.router,
    me.router,
    service_agents.router,
    customer.router,
    customers.router,
    agents.router,
    accesskeys.router,
    audit_events.router,
    directs.router,
    directs.boot_router,
    events.router,
    ws.router,
    docs.router,
)


class VbauthApp(FastAPI):
    """FastAPI for vbauth's own API, behind the front layer that answers the hot paths.

    The front is outermost, ahead of FastAPI's own middleware stack, so a forward-auth or
    gateway request costs no FastAPI machinery at all (``api/front.py``).
    """

    front: Front

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self.front(scope, receive, send)

    async def serve_api(self, scope: Scope, receive: Receive, send: Send) -> None:
        await super().__call__(scope, receive, send)


def create_app(settings: Settings | None = None, *, runtime: Runtime | None = None) -> FastAPI:
    """Build the app; tests pass their own settings or a runtime they share between apps."""
    runtime = runtime or Runtime.build(settings or get_settings())

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        await runtime.start()
        async with anyio.create_task_group() as background:
            background.start_soon(runtime.run_background)
            if runtime.settings.metrics.get_secret_value() != "off":
                sample = partial(sample_gauges, runtime)
                background.start_soon(partial(every, GAUGE_SECONDS, sample, name="gauges"))
            yield
            background.cancel_scope.cancel()
        await runtime.close()
        process_ended()  # with several workers, this one's live gauges go with it

    app = VbauthApp(
        title="vbauth",
        version=__version__,
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
    )
    app.openapi = lambda: openapi.document(app)  # type: ignore[method-assign]
    app.state.runtime = runtime
    for router in ROUTERS:
        # The routes themselves, not include_router: FastAPI wraps an included router in a
        # layer that is matched and entered on every request (a fifth of GET /v1.0/me's CPU).
        # Each route already carries its router's prefix and tags; the OpenAPI is the same.
        app.router.routes.extend(router.routes)
    app.router.routes.extend(admin_routes.ROUTES)  # the console's pages: no OpenAPI operations
    install_error_handlers(app)
    app.add_middleware(JsonBodyMiddleware)
    hot = HotRoutes(runtime)
    inner: ASGIApp = Dispatch(
        app.serve_api,
        verify=hot.verify,
        gateway=hot.gateway,
        cached=hot.cached,
        cached_paths=frozenset(CACHED_READS),
        own_segments=own_segments(),
        limits=runtime.limits,
        trusted_networks=runtime.trusted_networks,
    )
    origins = runtime.settings.cors_origins
    if origins:
        # Around the dispatch, so the gateway's answers to browsers follow the same rules.
        inner = CORSMiddleware(
            inner,
            allow_origins=origins,
            allow_credentials="*" not in origins,
            allow_methods=["GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS"],
            allow_headers=["Authorization", "Content-Type", "X-Request-Id"],
            expose_headers=["X-Request-Id"],
            max_age=43200,
        )
    counting = runtime.settings.metrics.get_secret_value() != "off"
    app.front = Front(
        inner,
        max_body_bytes=runtime.settings.max_body_bytes,
        https=runtime.settings.public_url.startswith("https://"),
        metrics=request_metrics if counting else None,
        structured_logs=runtime.settings.log_format == "json",
        trusted_networks=runtime.trusted_networks,
    )
    return app


def own_segments() -> frozenset[str]:
    """The first path segments under /v1.0/ that vbauth's own routes serve; the gateway has
    every other."""
    paths = (getattr(route, "path", "") for router in ROUTERS for route in router.routes)
    return frozenset(
        path[len(API_PREFIX) :].split("/")[0] for path in paths if path.startswith(API_PREFIX)
    )


def make_app() -> FastAPI:
    """The factory uvicorn calls (``vbauth serve``): settings from the environment."""
    lean_log_records()
    return create_app()
