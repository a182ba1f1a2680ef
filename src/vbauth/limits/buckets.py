"""GCRA buckets (the generic cell rate algorithm): one number per key, in memory or in Redis.

A bucket stores its "theoretical arrival time" (TAT): when it would be empty again at the
steady rate. A request is allowed while the TAT runs at most ``tolerance`` ahead of now, and
moves it on by one ``interval``. A refusal says how long until the next request would pass,
and changes nothing.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

import redis.asyncio as redis
from redis.exceptions import RedisError

from vbauth.limits.rates import Rate

log = logging.getLogger("vbauth.limits")

# A bucket whose TAT has passed is full again, the same as no bucket: those are dropped first
# when the table grows past this; if all are busy, all go (memory is the harder limit).
MAX_KEYS = 100_000

GCRA_SCRIPT = """
local now_parts = redis.call('TIME')
local now = tonumber(now_parts[1]) * 1000000 + tonumber(now_parts[2])
local interval = tonumber(ARGV[1])
local tolerance = tonumber(ARGV[2])
local tat = tonumber(redis.call('GET', KEYS[1]) or now)
if tat < now then tat = now end
if tat - now > tolerance then
    return tat - now - tolerance
end
local new_tat = tat + interval
local ttl_ms = math.ceil((new_tat - now) / 1000) + 1000
redis.call('SET', KEYS[1], string.format('%d', new_tat), 'PX', ttl_ms)
return 0
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
    """Buckets every instance shares, updated atomically by one Lua script per request.

    Each call has a time budget (``timeout``); when Redis fails or is slow, the request is
    judged by ``fallback`` (this instance's buckets) instead: limits weaken to per instance,
    they never vanish, and no request waits on a dead Redis for more than the budget.
    """

    def __init__(self, url: str, *, timeout: float, fallback: MemoryBuckets, prefix: str) -> None:
        self._client = redis_client(url, timeout)
        self._script = self._client.register_script(GCRA_SCRIPT)
        self._fallback = fallback
        self._prefix = prefix
        self._health = RedisHealth("rate limits")

    async def hit(self, tier: str, rate: Rate, key: str) -> float:
        if self._health.down:
            return self._fallback.hit(tier, rate, key)
        interval_us = round(rate.interval * 1_000_000)
        tolerance_us = round(rate.tolerance * 1_000_000)
        try:
            wait_us = await self._script(
                keys=[f"{self._prefix}:{tier}:{key}"], args=[interval_us, tolerance_us]
            )
        except (RedisError, OSError) as error:
            self._health.failed(error)
            return self._fallback.hit(tier, rate, key)
        return int(wait_us) / 1_000_000

    async def close(self) -> None:
        await self._client.aclose()
