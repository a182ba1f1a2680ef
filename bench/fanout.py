"""Event fan-out: events per second and delivery latency, in process and over Redis.

    .venv/bin/python bench/fanout.py [--redis redis://127.0.0.1:6379/0] [--events 2000]

For 1, 100 and 1,000 subscribers, each a real hub connection whose socket stand-in records
when a frame reaches it. The baseline, measured in the same run, is one asyncio.Queue hand-off
per subscriber (what delivery could cost at the least); ratios are against it. The publisher
runs flat out, yielding to the loop after each event: latencies include queueing under that load.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import time
import uuid

import anyio

from vbauth.authn import Credential
from vbauth.events.bus import LocalBus, RedisBus
from vbauth.events.hub import Connection, Hub
from vbauth.events.model import Event
from vbauth.identity import AgentIdentity

CUSTOMER = uuid.uuid4()


class RecordingSocket:
    """Stands in for a WebSocket: never sends anything, notes when each frame arrives."""

    def __init__(self, expected: int, done: asyncio.Event) -> None:
        self.latencies: list[float] = []
        self._expected, self._done = expected, done

    async def receive(self) -> dict[str, str]:
        await anyio.sleep_forever()
        raise AssertionError

    async def send_text(self, frame: str) -> None:
        sent = json.loads(frame)["data"]["t"]
        self.latencies.append(time.perf_counter() - sent)
        if len(self.latencies) == self._expected:
            self._done.set()

    async def close(self, code: int, reason: str) -> None:
        return None


async def _nothing_bound(*_: object) -> None:
    return None


async def run(bus_kind: str, subscribers: int, events: int, redis_url: str) -> dict[str, float]:
    hub = Hub()
    bus = LocalBus(hub) if bus_kind == "in process" else RedisBus(redis_url, hub, lambda: None)
    sockets, everyone_done = [], []
    async with anyio.create_task_group() as group:
        group.start_soon(bus.run)
        await anyio.sleep(0.2)  # let a Redis listener subscribe
        for _ in range(subscribers):
            done = asyncio.Event()
            socket = RecordingSocket(events, done)
            identity = AgentIdentity(uuid.uuid4(), CUSTOMER, uuid.uuid4(), 32, "b", "active")
            connection = Connection(
                socket,
                identity,
                Credential("token", "t", "query"),  # type: ignore[arg-type]
                queue_size=events + 10,
                bindings=_nothing_bound,
            )
            connection.subscriptions.add(f"customer_id:{CUSTOMER}")
            hub.add(connection)
            group.start_soon(connection.serve)
            sockets.append(socket)
            everyone_done.append(done)
        started = time.perf_counter()
        for number in range(events):
            await bus.publish(
                Event("bench_created", CUSTOMER, "bench", str(number), {"t": time.perf_counter()})
            )
            await asyncio.sleep(0)  # let consumers run between events, as a server's loop would
        for done in everyone_done:
            await done.wait()
        elapsed = time.perf_counter() - started
        for connection in list(hub.connections):
            connection.close(1000, "")
        await anyio.sleep(0.05)
        group.cancel_scope.cancel()
    await bus.close()
    latencies = sorted(latency for socket in sockets for latency in socket.latencies)
    return {
        "events_per_second": events / elapsed,
        "deliveries_per_second": events * subscribers / elapsed,
        "p50_ms": statistics.median(latencies) * 1000,
        "p99_ms": latencies[int(len(latencies) * 0.99) - 1] * 1000,
    }


async def baseline(subscribers: int, events: int) -> float:
    """Seconds per delivery for a bare asyncio.Queue hand-off to ``subscribers`` readers."""
    queues = [asyncio.Queue[float]() for _ in range(subscribers)]

    async def drain(queue: asyncio.Queue[float]) -> None:
        for _ in range(events):
            await queue.get()

    started = time.perf_counter()
    async with anyio.create_task_group() as group:
        for queue in queues:
            group.start_soon(drain, queue)
        for _ in range(events):
            for queue in queues:
                queue.put_nowait(time.perf_counter())
            await asyncio.sleep(0)
    return (time.perf_counter() - started) / (events * subscribers)


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--redis", default="redis://127.0.0.1:6379/0")
    parser.add_argument("--events", type=int, default=2000)
    arguments = parser.parse_args()
    print(
        f"{'bus':<11} {'subs':>5} {'events/s':>10} {'deliveries/s':>13} {'p50 ms':>8} "
        f"{'p99 ms':>8} {'x baseline':>11}"
    )
    for subscribers in (1, 100, 1000):
        events = max(arguments.events // subscribers, 20) if subscribers > 1 else arguments.events
        floor = await baseline(subscribers, events)
        for bus_kind in ("in process", "redis"):
            result = await run(bus_kind, subscribers, events, arguments.redis)
            per_delivery = 1 / result["deliveries_per_second"]
            print(
                f"{bus_kind:<11} {subscribers:>5} {result['events_per_second']:>10.0f} "
                f"{result['deliveries_per_second']:>13.0f} {result['p50_ms']:>8.2f} "
                f"{result['p99_ms']:>8.2f} {per_delivery / floor:>11.1f}"
            )


if __name__ == "__main__":
    asyncio.run(main())
