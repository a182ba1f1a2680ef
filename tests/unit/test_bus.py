"""The Redis bus with a Redis that hangs: writes must not wait on it (an attack review found
every write stalling five seconds per publish)."""

from __future__ import annotations

import asyncio
import socket
import uuid
from collections.abc import Iterator

import pytest

from vbauth.events.bus import RedisBus
from vbauth.events.hub import Hub
from vbauth.events.model import Event

pytestmark = pytest.mark.anyio


@pytest.fixture
def silent_server() -> Iterator[str]:
    """A TCP server that accepts connections and never answers."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    try:
        yield f"redis://127.0.0.1:{listener.getsockname()[1]}/0"
    finally:
        listener.close()


async def test_a_hung_redis_costs_a_write_its_budget_not_seconds(silent_server: str) -> None:
    hub = Hub()
    delivered: list[Event] = []
    hub.deliver = delivered.append  # type: ignore[method-assign]
    bus = RedisBus(silent_server, hub, lambda _what: None)
    event = Event(
        type="agent_updated",
        customer_id=uuid.uuid4(),
        resource_type="agent",
        resource_id="x",
        data={},
    )
    try:
        # A generous deadline: the budget is a fraction of a second, Redis's default is none.
        await asyncio.wait_for(bus.announce_invalidation(), timeout=3)
        await asyncio.wait_for(bus.publish(event), timeout=3)
        assert delivered == [event]  # delivered here at least
        # While Redis is known to be down, no more waiting at all.
        for _ in range(20):
            await asyncio.wait_for(bus.announce_invalidation(), timeout=0.2)
    finally:
        await bus.close()
