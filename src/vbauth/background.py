"""Periodic jobs that run beside the server: batched writes, mail delivery, expiry sweeps."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

import anyio

log = logging.getLogger("vbauth.background")

Job = Callable[[], Awaitable[object]]


async def every(seconds: float, job: Job, *, name: str) -> None:
    """Run ``job`` every ``seconds`` until cancelled. A failing run is logged, never fatal."""
    while True:
        await anyio.sleep(seconds)
        try:
            await job()
        except Exception:
            log.exception("background job %s failed; it will run again in %ss", name, seconds)
