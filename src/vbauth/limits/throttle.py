"""The per-account login throttle (Keycloak's brute-force detection, by username).

After ``max_failures`` failed logins for one username within ``WINDOW_SECONDS``, every login
for it waits: 60 s, then twice as long after each further failure, up to 15 minutes; the right
password waits too, or the throttle would tell a guesser when they are right. A success
resets the count. Keys are digests of the normalised username, whether or not such an agent
exists, so the throttle reveals nothing about which accounts are real.
"""

from __future__ import annotations

import hashlib
import math
import time
from collections.abc import Callable
from dataclasses import dataclass

from vbauth.limits.buckets import RedisHealth, redis_client
from vbauth.services.errors import TooManyRequests

WINDOW_SECONDS = 12 * 3600
FIRST_WAIT_SECONDS = 60
MAX_WAIT_SECONDS = 15 * 60
MAX_KEYS = 100_000


def wait_after(lockouts: int) -> int:
    """The wait of the ``lockouts``-th lock: 60 s, doubling, at most 15 minutes."""
    return min(FIRST_WAIT_SECONDS << min(lockouts - 1, 16), MAX_WAIT_SECONDS)


def account_key(username: str) -> str:
    return hashlib.sha256(username.encode()).hexdigest()[:32]


@dataclass
class _Record:
    failures: int
    window_ends: float
    locked_until: float = 0.0
    lockouts: int = 0


class MemoryThrottle:
    def __init__(self, max_failures: int, clock: Callable[[], float] = time.time) -> None:
        self.max_failures = max_failures
        self._clock = clock
        self._records: dict[str, _Record] = {}

    async def attempt(self, key: str) -> float:
        """Seconds this key must still wait; if none, the attempt is counted as a failure
        at once (in the same step, so attempts sent together cannot all pass the check)."""
        record = self._live(key)
        now = self._clock()
        if record is not None and record.locked_until > now:
            return record.locked_until - now
        self._count(key, record, now)
        return 0.0

    def _count(self, key: str, record: _Record | None, now: float) -> None:
        if record is None:
            if len(self._records) >= MAX_KEYS:
                self._evict(now)
            record = self._records[key] = _Record(0, now + WINDOW_SECONDS)
        record.failures += 1
        if record.failures >= self.max_failures:
            record.lockouts += 1
            record.locked_until = now + wait_after(record.lockouts)

    async def succeeded(self, key: str) -> None:
        self._records.pop(key, None)

    def _live(self, key: str) -> _Record | None:
        record = self._records.get(key)
        now = self._clock()
        if record is not None and record.window_ends <= now and record.locked_until <= now:
            del self._records[key]
            return None
        return record

    def _evict(self, now: float) -> None:
        """Drop what no longer matters, then what is not locked; a lock goes last (an attack
        review lifted a victim's lock by filling the table with other usernames)."""
        for key in [k for k, r in self._records.items() if r.window_ends <= now]:
            del self._records[key]
        if len(self._records) >= MAX_KEYS:
            for key in [k for k, r in self._records.items() if r.locked_until <= now]:
                del self._records[key]
        if len(self._records) >= MAX_KEYS:
            self._records.clear()


# KEYS[1]: the account; ARGV: max failures, window, first wait, max wait (seconds). A key still
# locked returns its wait and counts nothing; otherwise the attempt counts, locking the key
# when it reaches the limit, and '0' comes back.
ATTEMPT_SCRIPT = """
local now_parts = redis.call('TIME')
local now = tonumber(now_parts[1]) + tonumber(now_parts[2]) / 1000000
local locked_until = tonumber(redis.call('HGET', KEYS[1], 'locked_until') or '0')
if locked_until > now then
    return tostring(locked_until - now)
end
local failures = redis.call('HINCRBY', KEYS[1], 'failures', 1)
if failures == 1 then
    redis.call('HSET', KEYS[1], 'window_ends', now + tonumber(ARGV[2]))
end
local expires = tonumber(redis.call('HGET', KEYS[1], 'window_ends'))
if failures >= tonumber(ARGV[1]) then
    local lockouts = redis.call('HINCRBY', KEYS[1], 'lockouts', 1)
    local wait = math.min(tonumber(ARGV[3]) * 2 ^ math.min(lockouts - 1, 16), tonumber(ARGV[4]))
    redis.call('HSET', KEYS[1], 'locked_until', now + wait)
    expires = math.max(expires, now + wait)
end
redis.call('PEXPIREAT', KEYS[1], math.ceil(expires * 1000))
return '0'
"""


class RedisThrottle:
    """The same rules, shared by every instance; this instance's own while Redis is away."""

    def __init__(self, url: str, max_failures: int, *, timeout: float, prefix: str) -> None:
        self.max_failures = max_failures
        self._client = redis_client(url, timeout)
        self._attempt = self._client.register_script(ATTEMPT_SCRIPT)
        self._prefix = prefix
        self._fallback = MemoryThrottle(max_failures)
        self._health = RedisHealth("login throttle")

    async def attempt(self, key: str) -> float:
        if self._health.down:
            return await self._fallback.attempt(key)
        args = [self.max_failures, WINDOW_SECONDS, FIRST_WAIT_SECONDS, MAX_WAIT_SECONDS]
        try:
            return float(await self._attempt(keys=[self._key(key)], args=args))
        except Exception as error:  # RedisError, OSError, a closed transport's RuntimeError
            self._health.failed(error)
            return await self._fallback.attempt(key)

    async def succeeded(self, key: str) -> None:
        await self._fallback.succeeded(key)
        if self._health.down:
            return
        try:
            await self._client.delete(self._key(key))
        except Exception as error:  # RedisError, OSError, a closed transport's RuntimeError
            self._health.failed(error)

    def _key(self, key: str) -> str:
        return f"{self._prefix}:login:{key}"

    async def close(self) -> None:
        await self._client.aclose()


class LoginThrottle:
    """What the login service asks: may this username try now, and what happened."""

    def __init__(self, store: MemoryThrottle | RedisThrottle | None) -> None:
        self._store = store  # None: the throttle is off (VBAUTH_LOGIN_MAX_FAILURES=0)

    async def attempt(self, username: str) -> None:
        """Count a login attempt for ``username`` now, or raise 429 while it must wait.

        The attempt counts as a failure until ``succeeded`` says otherwise: counted after the
        password check instead, guesses sent together would all pass before any counted.
        """
        if self._store is None:
            return
        wait = await self._store.attempt(account_key(username))
        if wait > 0:
            raise TooManyRequests(
                "Too many failed logins for this username; wait and try again.",
                reason="LOGIN_THROTTLED",
                details=[{"tier": "login"}],  # like every 429: what held it back
                retry_after=max(1, math.ceil(wait)),
            )

    async def succeeded(self, username: str) -> None:
        if self._store is not None:
            await self._store.succeeded(account_key(username))

    async def close(self) -> None:
        if isinstance(self._store, RedisThrottle):
            await self._store.close()
