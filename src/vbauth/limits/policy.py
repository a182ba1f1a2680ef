"""Which tier a request or an identity falls in, and the check itself (VoIPBIN §9's tiers).

Client tiers are keyed by the client's address and checked before anything else is done for a
request; customer tiers are keyed by the customer and checked once the caller is known, so an
agent and an accesskey of one customer share one bucket.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import Literal

from vbauth.identity import DelegateIdentity, DirectIdentity, Identity
from vbauth.limits.buckets import MemoryBuckets, RedisBuckets
from vbauth.limits.rates import Rate
from vbauth.limits.throttle import LoginThrottle, MemoryThrottle, RedisThrottle
from vbauth.services.errors import TooManyRequests

Tier = Literal[
    "auth_public",
    "auth_protected",
    "v1",
    "v1_customer",
    "v1_customer_direct",
    "v1_customer_delegate",
]
TIERS: tuple[Tier, ...] = (
    "auth_public",
    "auth_protected",
    "v1",
    "v1_customer",
    "v1_customer_direct",
    "v1_customer_delegate",
)
# /auth routes that need a credential (VoIPBIN's protected group); every other /auth route is
# public. /auth/verify decides a /v1.0 request for a proxy, so it counts as one.
PROTECTED_AUTH = ("/auth/logout", "/auth/unregister", "/auth/delegate")  # need a credential
VERIFY = "/auth/verify"
# Set in a request's scope state once its customer was counted: a request that passes two
# entry points (a cached read that falls through to its route) is counted once.
COUNTED = "vbauth.customer_counted"


def client_tier(path: str) -> Tier | None:
    """The client-address tier of a path, or None for what no tier covers (/ping, /docs...)."""
    if path.startswith("/v1.0/") or path.startswith(VERIFY):
        return "v1"
    if path.startswith("/auth/"):
        return "auth_protected" if path.startswith(PROTECTED_AUTH) else "auth_public"
    return None


def customer_tier(identity: Identity) -> Tier:
    if isinstance(identity, DirectIdentity):
        return "v1_customer_direct"
    if isinstance(identity, DelegateIdentity):
        return "v1_customer_delegate"
    return "v1_customer"


class Limits:
    """The configured tiers over this process's buckets, or Redis's when it is set."""

    def __init__(self, rates: Mapping[str, Rate | None], shared: RedisBuckets | None) -> None:
        self.rates = rates
        self.local = MemoryBuckets()
        self.shared = shared
        # Told of each refusal (the runtime records it in the audit log, sparingly).
        self.on_refused: Callable[[Tier, str], None] | None = None

    async def check(self, tier: Tier, key: str) -> None:
        """Count one request against ``tier`` for ``key``, or raise 429 when it is spent."""
        rate = self.rates.get(tier)
        if rate is None:
            return
        if self.shared is not None:
            wait = await self.shared.hit(tier, rate, key)
        else:
            wait = self.local.hit(tier, rate, key)
        if wait > 0:
            if self.on_refused is not None:
                self.on_refused(tier, key)
            raise TooManyRequests(
                "Too many requests; slow down and retry later.",
                reason="RATE_LIMIT_EXCEEDED",
                details=[{"tier": tier}],
                retry_after=max(1, math.ceil(wait)),
            )

    async def check_customer(self, identity: Identity, state: dict[str, object]) -> None:
        """The customer tier of ``identity``, once per request (``state``: the scope's)."""
        if state.get(COUNTED):
            return
        state[COUNTED] = True
        await self.check(customer_tier(identity), str(identity.customer_id))

    async def close(self) -> None:
        if self.shared is not None:
            await self.shared.close()


REDIS_PREFIX = "vbauth"


def limits_for(rates: Mapping[str, Rate | None], redis_url: str | None, timeout: float) -> Limits:
    """The tiers over Redis when it is configured (shared by every instance), else in memory."""
    if redis_url is None:
        return Limits(rates, None)
    shared = RedisBuckets(redis_url, timeout=timeout, fallback=MemoryBuckets(), prefix=REDIS_PREFIX)
    return Limits(rates, shared)


def throttle_for(max_failures: int, redis_url: str | None, timeout: float) -> LoginThrottle:
    if max_failures == 0:
        return LoginThrottle(None)
    if redis_url is None:
        return LoginThrottle(MemoryThrottle(max_failures))
    return LoginThrottle(
        RedisThrottle(redis_url, max_failures, timeout=timeout, prefix=REDIS_PREFIX)
    )
