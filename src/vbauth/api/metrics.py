"""``GET /metrics``: Prometheus's scrape, as ``VBAUTH_METRICS`` allows it."""

from __future__ import annotations

import hmac

from fastapi import APIRouter, Request
from fastapi.responses import Response

from vbauth import metrics
from vbauth.api.deps import RuntimeDep
from vbauth.api.errors import ApiError
from vbauth.authn import bearer_token
from vbauth.health import sample_gauges

router = APIRouter(tags=["health"])


@router.get("/metrics", include_in_schema=False)
async def scrape(request: Request, runtime: RuntimeDep) -> Response:
    """Every figure in the Prometheus text format; 404 when metrics are off, 401 without the
    scrape secret when one is set."""
    setting = runtime.settings.metrics.get_secret_value()
    if setting == "off":
        raise ApiError(404, "ROUTE_NOT_FOUND", "The requested endpoint does not exist.")
    if setting != "open":
        sent = bearer_token(request.headers.get("authorization", ""))
        if not hmac.compare_digest(sent.encode(), setting.encode()):
            raise ApiError(
                401,
                "AUTHENTICATION_REQUIRED",
                "The metrics need the scrape secret as a Bearer token.",
                headers={"WWW-Authenticate": 'Bearer realm="metrics"'},
            )
    await sample_gauges(runtime)
    return Response(metrics.exposition(), media_type=metrics.CONTENT_TYPE)
