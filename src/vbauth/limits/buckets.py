"""GCRA buckets (the generic cell rate algorithm): one number per key, in memory or in Redis.

A bucket stores its "theoretical arrival time" (TAT): when it would be empty again at the
steady rate. A request is allowed while the TAT runs at most ``tolerance`` ahead of now, and
moves it on by one ``interval``. A refusal says how long until the next request would pass,
and changes nothing.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

import redis.asyncio as redis

from vbauth.limits.rates import Rate

log = logging.getLogger("vbauth.limits")

# A bucket whose TAT has passed is full again, the same as no bucket: those are dropped first
# when the table grows past this; if all are busy, all go (memory is the harder limit).
MAX_KEYS = 100_000

# One call judges a whole batch: KEYS[i] is a bucket, ARGV[2i-1] and ARGV[2i] its interval and
# tolerance in microseconds. Buckets are taken in order, so two hits on one key count twice.
# Returns, per bucket, 0 (allowed) or the microseconds to wait.
GCRA_SCRIPT = """
local now_parts = redis.call('TIME')
local now = tonumber(now_parts[1]) * 1000000 + tonumber(now_parts[2])
local waits = {}
for i, key in ipairs(KEYS) do
    local interval = tonumber(ARGV[2 * i - 1])
    local tolerance = tonumber(ARGV[2 * i])
    local tat = tonumber(redis.call('GET', key) or now)
    if tat < now then tat = now end
    if tat - now > tolerance then
        waits[i] = tat - now - tolerance
    else
        local new_tat = tat + interval
        local ttl_ms = math.ceil((new_tat - now) / 1000) + 1000
        redis.call('SET', key, string.format('%d', new_tat), 'PX', ttl_ms)
        waits[i] = 0
    end
end
return waits
"""
# While Redis does not answer, limits fall back to this instance's own buckets for this long
# before Redis is tried again, so an outage costs one timeout a second, not one a request.
REDIS_RETRY_SECONDS = 1.0
EPSILON = 1e-9  # float sums of intervals drift by far less; Redis counts whole microseconds
WARN_EVERY_SECONDS = 60.0


class MemoryBuckets:
    """This process's buckets. ``hit`` returns 0 when allowed, else the seconds to wait."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._tats: dict[tuple[str, str], float] = {}

    def hit(self, tier: str, rate: Rate, key: str) -> float:
        now = self._clock()
        slot = (tier, key)
        tat = self._tats.get(slot, now)
        if tat < now:
            tat = now
        if tat - now > rate.tolerance + EPSILON:
            return tat - now - rate.tolerance
        if slot not in self._tats and len(self._tats) >= MAX_KEYS:
            self._evict(now)
        self._tats[slot] = tat + rate.interval
        return 0.0

    def _evict(self, now: float) -> None:
        full = [slot for slot, tat in self._tats.items() if tat <= now]
        for slot in full:
            del self._tats[slot]
        if len(self._tats) >= MAX_KEYS:
            self._tats.clear()


@dataclass(frozen=True, slots=True)
class _Hit:
    tier: str
    rate: Rate
    key: str
    wait: asyncio.Future[float]


class RedisHealth:
    """Whether to ask Redis now: after a failure, not for ``REDIS_RETRY_SECONDS``."""

    def __init__(self, what: str) -> None:
        self._what = what
        self._down_until = 0.0
        self._warned_at = float("-inf")

    @property
    def down(self) -> bool:
        return time.monotonic() < self._down_until

    def failed(self, error: Exception) -> None:
        now = time.monotonic()
        self._down_until = now + REDIS_RETRY_SECONDS
        if now - self._warned_at >= WARN_EVERY_SECONDS:
            self._warned_at = now
            log.warning(
                "%s: Redis did not answer (%s); going on without it for a second",
                self._what,
                type(error).__name__,
            )


def redis_client(url: str, timeout: float) -> redis.Redis:
    """A client whose every call, connecting included, gives up after ``timeout`` seconds."""
    return redis.Redis.from_url(url, socket_timeout=timeout, socket_connect_timeout=timeout)


class RedisBuckets:
    """Buckets every instance shares, updated atomically by a Lua script.

    Hits arriving in the same turn of the event loop go to Redis together, as one script call:
    under load a call judges many requests, so a round trip is paid per batch, not per request
    (a round trip costs more CPU than everything else a limit check does).

    Each call has a time budget (``timeout``); when Redis fails or is slow, the batch is judged
    by ``fallback`` (this instance's buckets) instead: limits weaken to per instance, they
    never vanish, and no request waits on a dead Redis for more than the budget.
    """

    def __init__(self, url: str, *, timeout: float, fallback: MemoryBuckets, prefix: str) -> None:
        self._client = redis_client(url, timeout)
        self._script = self._client.register_script(GCRA_SCRIPT)
        self._fallback = fallback
        self._prefix = prefix
        self._health = RedisHealth("rate limits")
        self._batch: list[_Hit] = []
        self._sending: set[asyncio.Task[None]] = set()

    async def hit(self, tier: str, rate: Rate, key: str) -> float:
        if self._health.down:
            return self._fallback.hit(tier, rate, key)
        loop = asyncio.get_running_loop()
        hit = _Hit(tier, rate, key, loop.create_future())
        if not self._batch:
            loop.call_soon(self._send_batch)  # after the tasks already ready this turn
        self._batch.append(hit)
        return await hit.wait

    def _send_batch(self) -> None:
        batch, self._batch = self._batch, []
        task = asyncio.ensure_future(self._judge(batch))
        self._sending.add(task)
        task.add_done_callback(self._sending.discard)

    async def _judge(self, batch: list[_Hit]) -> None:
        keys = [f"{self._prefix}:{hit.tier}:{hit.key}" for hit in batch]
        args: list[int] = []
        for hit in batch:
            args += [round(hit.rate.interval * 1e6), round(hit.rate.tolerance * 1e6)]
        try:
            waits = [int(wait) / 1_000_000 for wait in await self._script(keys=keys, args=args)]
        except Exception as error:  # RedisError, OSError, a reply of the wrong shape...
            # ...whatever it is, the requests waiting on this batch must get an answer.
            self._health.failed(error)
            waits = [self._fallback.hit(hit.tier, hit.rate, hit.key) for hit in batch]
        for hit, wait in zip(batch, waits, strict=True):
            if not hit.wait.done():  # its request may have gone meanwhile
                hit.wait.set_result(wait)

    async def close(self) -> None:
        await self._client.aclose()
