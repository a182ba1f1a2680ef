"""Whether this instance can serve: the database answers at the latest schema, and Redis (when
configured) answers. Each check is bounded in time, so a probe never hangs on a dead peer."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from dataclasses import dataclass
from functools import cache

import redis.asyncio as redis
from alembic.script import ScriptDirectory
from sqlalchemy import func, select, text

from vbauth import metrics
from vbauth.migrate import alembic_config
from vbauth.models import OutboxMessage
from vbauth.runtime import Runtime

# Under a second: orchestrators' probes often give up after one (Kubernetes' default), and a
# hung Redis must make the answer "degraded", not a probe timeout.
CHECK_SECONDS = 0.8


@dataclass(frozen=True, slots=True)
class Check:
    name: str
    problem: str = ""  # "" when it passed
    # A part vbauth can serve without (Redis: local limits, events and invalidation).
    optional: bool = False

    @property
    def ok(self) -> bool:
        return not self.problem


async def readiness(runtime: Runtime) -> list[Check]:
    """Every check, run at once, each within ``CHECK_SECONDS``."""
    pending = [
        bounded("database", _database(runtime)),
        bounded("migrations", _migrations(runtime)),
    ]
    if runtime.settings.redis_url:
        pending.append(bounded("redis", redis_answers(runtime.settings.redis_url), optional=True))
    return list(await asyncio.gather(*pending))


async def bounded(name: str, check: Awaitable[str], *, optional: bool = False) -> Check:
    """The check's problem (empty when it passed), or why it gave none in time."""
    try:
        async with asyncio.timeout(CHECK_SECONDS):
            return Check(name, await check, optional)
    except TimeoutError:
        return Check(name, f"no answer within {CHECK_SECONDS:g} s", optional)
    except Exception as error:  # whatever the driver raises, the probe says what it was
        return Check(name, f"unreachable ({type(error).__name__})", optional)


async def _database(runtime: Runtime) -> str:
    async with runtime.read_sessions() as session:
        await session.execute(text("SELECT 1"))
    return ""


async def _migrations(runtime: Runtime) -> str:
    try:
        async with runtime.read_sessions() as session:
            current = await session.scalar(text("SELECT version_num FROM alembic_version"))
    except Exception:
        await _database(runtime)  # unreachable: that is what the check says
        return "no schema yet: run vbauth migrate"  # it answers, without alembic's table
    head = latest_revision()
    if current == head:
        return ""
    if current and not _known_revision(current):
        # A newer release migrated it (a rolling upgrade): this one still serves on it.
        return ""
    return f"the schema is at {current or 'nothing'}, not {head}: run vbauth migrate"


def _known_revision(revision: str) -> bool:
    """Whether this code ships ``revision`` (an older schema) or not (a newer release's)."""
    try:
        return _scripts().get_revision(revision) is not None
    except Exception:  # alembic: no such revision in these scripts
        return False


@cache
def _scripts() -> ScriptDirectory:
    return ScriptDirectory.from_config(alembic_config(""))


@cache
def latest_revision() -> str:
    """The newest migration this code ships (read once: the files do not change)."""
    return _scripts().get_current_head() or ""


async def sample_gauges(runtime: Runtime) -> None:
    """The figures that are states, not counts, as they are now: pool use, outbox depth, and
    whether Redis answers. Called before each scrape and every few seconds in the background
    (with several workers, each keeps its own pool's figures current)."""
    pool = runtime.engine.sync_engine.pool
    in_use = getattr(pool, "checkedout", None)
    idle = getattr(pool, "checkedin", None)
    metrics.DATABASE_CONNECTIONS.labels("in_use").set(in_use() if callable(in_use) else 0)
    metrics.DATABASE_CONNECTIONS.labels("idle").set(idle() if callable(idle) else 0)
    if runtime.settings.redis_url:
        check = await bounded("redis", redis_answers(runtime.settings.redis_url))
        metrics.REDIS_UP.set(1 if check.ok else 0)
    try:
        async with asyncio.timeout(CHECK_SECONDS), runtime.read_sessions() as session:
            waiting = await session.scalar(OUTBOX_WAITING)
    except Exception:  # an outage: the figure stays as it was; readiness says why
        return
    metrics.OUTBOX.set(waiting or 0)


OUTBOX_WAITING = (
    select(func.count())
    .select_from(OutboxMessage)
    .where(OutboxMessage.status.in_(("pending", "sending")))
)


async def redis_answers(url: str) -> str:
    client = redis.Redis.from_url(
        url, socket_timeout=CHECK_SECONDS, socket_connect_timeout=CHECK_SECONDS
    )
    try:
        await client.ping()
    finally:
        await client.aclose()
    return ""
