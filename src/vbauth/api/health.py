"""Liveness and readiness."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import PlainTextResponse
from sqlalchemy import text

from vbauth.api.deps import RuntimeDep

router = APIRouter(tags=["health"])


@router.get("/ping", response_class=PlainTextResponse)
async def ping() -> str:
    """Liveness: the process answers."""
    return "pong"


@router.get("/health/ready")
async def health_ready(runtime: RuntimeDep) -> dict[str, str]:
    """Readiness: the database answers."""
    async with runtime.read_sessions() as session:
        await session.execute(text("SELECT 1"))
    return {"status": "ok"}
