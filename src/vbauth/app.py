"""The ASGI application."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import anyio
from fastapi import FastAPI
from starlette.middleware.cors import CORSMiddleware

from vbauth import __version__
from vbauth.api import (
    accesskeys,
    account,
    agents,
    auth,
    customer,
    customers,
    directs,
    events,
    gateway,
    health,
    me,
    ws,
)
from vbauth.api.errors import install_error_handlers
from vbauth.api.middleware import BodyLimitMiddleware, JsonBodyMiddleware, RequestIdMiddleware
from vbauth.runtime import Runtime
from vbauth.settings import Settings, get_settings

ROUTERS = (
    health.router,
    auth.router,
    account.router,
    me.router,
    customer.router,
    customers.router,
    agents.router,
    accesskeys.router,
    directs.router,
    directs.boot_router,
    events.router,
    ws.router,
    gateway.router,  # last: it takes every /v1.0 path no other route has
)


def create_app(settings: Settings | None = None, *, runtime: Runtime | None = None) -> FastAPI:
    """Build the app; tests pass their own settings or a runtime they share between apps."""
    runtime = runtime or Runtime.build(settings or get_settings())

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        async with anyio.create_task_group() as background:
            background.start_soon(runtime.run_background)
            yield
            background.cancel_scope.cancel()
        await runtime.close()

    app = FastAPI(title="vbauth", version=__version__, lifespan=lifespan)
    app.state.runtime = runtime
    # The gateway answers 405 for these paths' other methods (see api.gateway._unrouted).
    app.state.own_routes = [
        route for router in ROUTERS if router is not gateway.router for route in router.routes
    ]
    for router in ROUTERS:
        app.include_router(router)
    install_error_handlers(app)
    origins = runtime.settings.cors_origins
    if origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=origins,
            allow_credentials="*" not in origins,
            allow_methods=["GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS"],
            allow_headers=["Authorization", "Content-Type", "X-Request-Id"],
            expose_headers=["X-Request-Id"],
            max_age=43200,
        )
    app.add_middleware(JsonBodyMiddleware)
    app.add_middleware(BodyLimitMiddleware, max_bytes=runtime.settings.max_body_bytes)
    app.add_middleware(RequestIdMiddleware)
    return app


def make_app() -> FastAPI:
    """The factory uvicorn calls (``vbauth serve``): settings from the environment."""
    return create_app()
