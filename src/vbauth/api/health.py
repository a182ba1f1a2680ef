"""Liveness and readiness, for load balancers and orchestrators."""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter
from fastapi.responses import PlainTextResponse
from pydantic import BaseModel

from vbauth.api.deps import RuntimeDep
from vbauth.api.errors import ApiError
from vbauth.api.openapi import errors
from vbauth.health import readiness

router = APIRouter(tags=["health"])


class LiveOut(BaseModel):
    status: Literal["ok"] = "ok"


class ReadyOut(BaseModel):
    # "degraded": an optional part (Redis) is away and vbauth serves without it.
    status: Literal["ok", "degraded"]
    checks: dict[str, str]  # each part: "ok", or what is wrong with it


@router.get("/ping", response_class=PlainTextResponse)
async def ping() -> str:
    """Liveness, VoIPBIN's way: the process answers."""
    return "pong"


@router.get("/health/live")
async def health_live() -> LiveOut:
    """Liveness: the process answers (nothing else is asked)."""
    return LiveOut()


@router.get("/health/ready", responses=errors(503))
async def health_ready(runtime: RuntimeDep) -> ReadyOut:
    """Readiness: the database answers at the latest migration, and Redis when configured.

    Without the database: 503 naming what failed. Without Redis: 200 ``degraded``, since
    vbauth serves on with local limits, events and invalidation; taking every instance out of
    the load balancer because Redis is away would turn a degradation into an outage.
    """
    checks = await readiness(runtime)
    failed = [check for check in checks if not check.ok and not check.optional]
    if failed:
        names = ", ".join(check.name for check in failed)
        raise ApiError(
            503,
            "NOT_READY",
            f"Not ready: {names}.",
            details=[{"check": check.name, "problem": check.problem} for check in failed],
            headers={"Retry-After": "5"},
        )
    status: Literal["ok", "degraded"] = "ok" if all(c.ok for c in checks) else "degraded"
    return ReadyOut(status=status, checks={c.name: c.problem or "ok" for c in checks})
