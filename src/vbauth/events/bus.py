"""The event bus: in process by default, over Redis pub/sub when ``VBAUTH_REDIS_URL`` is set.

Over Redis every instance receives every event and delivers it to its own sockets, so any
instance can publish for any subscriber. The same channel family carries identity
invalidations, so a revocation on one instance clears the caches of all of them.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from typing import Literal

import anyio
import redis.asyncio as redis

from vbauth.events.hub import Hub
from vbauth.events.model import Event
from vbauth.limits.buckets import RedisHealth, redis_client

log = logging.getLogger("vbauth.events")

EVENTS_CHANNEL = "vbauth:events"
PUBLISH_BUDGET_SECONDS = 0.25
INVALIDATE_CHANNEL = "vbauth:invalidate"
# "identities": who someone is changed (caches cleared, sockets re-checked); "records": some row
# changed, so cached response bodies go (``Runtime.records``).
Invalidation = Literal["identities", "records"]


class LocalBus:
    """One process: publishing is delivering."""

    def __init__(self, hub: Hub) -> None:
        self.hub = hub

    async def publish(self, event: Event) -> None:
        self.hub.deliver(event)

    async def announce_invalidation(self, what: Invalidation = "identities") -> None:
        """Nobody else to tell."""

    async def run(self) -> None:
        await anyio.sleep_forever()

    async def close(self) -> None:
        """Nothing to close."""


class RedisBus:
    """Many processes: publish to Redis, and deliver what Redis hands back (ours included)."""

    def __init__(
        self, url: str, hub: Hub, on_remote_invalidation: Callable[[Invalidation], None]
    ) -> None:
        self.hub = hub
        self._client = redis.from_url(url)  # the listener: it waits for messages, unbounded
        # Publishing happens inside a request's commit: it gets a budget, and after a failure
        # Redis is left alone for a second, so a hung Redis cannot hold every write.
        self._publisher = redis_client(url, PUBLISH_BUDGET_SECONDS)
        self._health = RedisHealth("events and invalidations")
        self._on_remote_invalidation = on_remote_invalidation
        self._instance = uuid.uuid4().hex  # our own invalidations are already applied

    async def publish(self, event: Event) -> None:
        if not await self._publish(EVENTS_CHANNEL, event.to_json()):
            self.hub.deliver(event)  # this instance's sockets, at least

    async def announce_invalidation(self, what: Invalidation = "identities") -> None:
        await self._publish(INVALIDATE_CHANNEL, f"{self._instance} {what}")

    async def _publish(self, channel: str, message: str) -> bool:
        if self._health.down:
            return False
        try:
            await self._publisher.publish(channel, message)
        except Exception as error:  # RedisError, OSError, a closed transport's RuntimeError
            self._health.failed(error)
            return False
        return True

    async def run(self) -> None:
        """Listen until cancelled, reconnecting after Redis failures."""
        while True:
            try:
                await self._listen()
            except Exception as error:  # RedisError, OSError, a closed transport's RuntimeError
                log.warning("Redis listener failed (%s); retrying in 1 s", type(error).__name__)
                await anyio.sleep(1)

    async def _listen(self) -> None:
        async with self._client.pubsub() as pubsub:
            await pubsub.subscribe(EVENTS_CHANNEL, INVALIDATE_CHANNEL)
            async for message in pubsub.listen():
                if message.get("type") != "message":
                    continue
                channel = message["channel"].decode()
                if channel == EVENTS_CHANNEL:
                    self._deliver(message["data"])
                else:
                    instance, _, what = message["data"].decode().partition(" ")
                    if instance != self._instance:
                        self._on_remote_invalidation(
                            "records" if what == "records" else "identities"
                        )

    def _deliver(self, data: bytes) -> None:
        try:
            event = Event.from_json(data)
        except (ValueError, KeyError, TypeError):
            log.warning("ignored a malformed event on %s", EVENTS_CHANNEL)
            return
        self.hub.deliver(event)

    async def close(self) -> None:
        await self._publisher.aclose()
        await self._client.aclose()


Bus = LocalBus | RedisBus
