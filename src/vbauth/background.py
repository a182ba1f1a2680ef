"""Periodic jobs that run beside the server: batched writes, mail delivery, expiry sweeps."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

import anyio

from vbauth.db import database_unavailable

log = logging.getLogger("vbauth.background")

Job = Callable[[], Awaitable[object]]


async def every(seconds: float, job: Job, *, name: str) -> None:
    """Run ``job`` every ``seconds`` until cancelled. A failing run is logged, never fatal.

    A database outage is said once, in one line, and its end once: a job every few seconds
    would otherwise write a traceback each time (and the requests already say 503).
    """
    outage = False
    while True:
        await anyio.sleep(seconds)
        try:
            await job()
        except Exception as error:
            if not database_unavailable(error):
                log.exception("background job %s failed; it will run again in %ss", name, seconds)
            elif not outage:
                outage = True
                log.warning("background job %s: the database does not answer; retrying", name)
        else:
            if outage:
                outage = False
                log.warning("background job %s: the database answers again", name)
