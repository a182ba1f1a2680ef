"""The floor: a bare Starlette endpoint, served by the same uvicorn as vbauth.

No middleware, no database, no log line: what one request costs before vbauth does anything.
"""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route


async def ping(_request: Request) -> PlainTextResponse:
    return PlainTextResponse("pong")


app = Starlette(routes=[Route("/ping", ping)])
