"""GCRA buckets, rates as written in settings, and the login throttle's schedule."""

from __future__ import annotations

import asyncio
import uuid

import pytest
from starlette.requests import Request

from tests.mailbox import free_port
from vbauth.api.client import bucket_key, client_address, scope_client
from vbauth.api.deps import client_ip
from vbauth.limits.buckets import MemoryBuckets, RedisBuckets
from vbauth.limits.policy import client_tier
from vbauth.limits.rates import Rate, parse_rate
from vbauth.limits.throttle import MemoryThrottle, wait_after
from vbauth.settings import Settings


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_rates_are_written_rate_slash_burst_and_zero_is_off() -> None:
    assert parse_rate("10/20") == Rate(10.0, 20)
    assert parse_rate("16.7/33") == Rate(16.7, 33)
    assert parse_rate("5") == Rate(5.0, 5)
    assert parse_rate("0") is None
    assert parse_rate("0/20") is None
    # "10/0" was taken as "off" (a newcomer meant "no burst"): it is refused instead.
    for bad in ("ten/20", "10/x", "-1/5", "inf/5", "nan/5", "", "10/0"):
        with pytest.raises(ValueError):
            parse_rate(bad)


def test_a_bad_rate_setting_stops_the_service_naming_it() -> None:
    with pytest.raises(ValueError, match="rate_limit_v1"):
        Settings(rate_limit_v1="lots")
    assert Settings().rates()["v1_customer"] == Rate(17.0, 33)
    assert Settings(rate_limit_v1="0").rates()["v1"] is None


def test_a_full_bucket_allows_its_burst_then_the_steady_rate() -> None:
    clock = Clock()
    buckets, rate = MemoryBuckets(clock), Rate(10.0, 20)
    assert [buckets.hit("t", rate, "a") for _ in range(20)] == [0.0] * 20
    wait = buckets.hit("t", rate, "a")
    assert wait == pytest.approx(0.1)  # the next token comes in 1/10 s
    assert buckets.hit("t", rate, "a") == pytest.approx(0.1)  # a refusal spends nothing
    assert buckets.hit("t", rate, "b") == 0.0  # another key, another bucket
    assert buckets.hit("other tier", rate, "a") == 0.0
    clock.now += 0.1
    assert buckets.hit("t", rate, "a") == 0.0
    assert buckets.hit("t", rate, "a") > 0
    clock.now += 2.0  # a whole burst's worth of time refills it
    assert [buckets.hit("t", rate, "a") for _ in range(20)] == [0.0] * 20
    assert buckets.hit("t", rate, "a") > 0


def test_the_table_of_buckets_stays_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("vbauth.limits.buckets.MAX_KEYS", 100)
    clock = Clock()
    buckets, rate = MemoryBuckets(clock), Rate(1.0, 1)
    for n in range(100):
        buckets.hit("t", rate, str(n))
    clock.now += 5  # every bucket is full again: dropping them changes nothing
    buckets.hit("t", rate, "new")
    assert len(buckets._tats) == 1


def test_which_paths_fall_in_which_client_tier() -> None:
    assert client_tier("/auth/login") == "auth_public"
    assert client_tier("/auth/password-reset") == "auth_public"
    assert client_tier("/auth/boot") == "auth_public"
    assert client_tier("/auth/logout") == "auth_protected"
    assert client_tier("/auth/verify") == "v1"
    assert client_tier("/auth/verify/v1.0/calls") == "v1"
    assert client_tier("/v1.0/me") == "v1"
    for free in (
        "/admin/accesskeys",
        "/ping",
        "/health/ready",
        "/docs",
        "/openapi.json",
        "/.well-known/jwks.json",
    ):
        assert client_tier(free) is None


def test_the_client_address_comes_from_a_trusted_proxy_only() -> None:
    proxy = [Settings(trusted_proxies=["10.0.0.0/8"]).trusted_networks[0]]
    assert client_address("10.0.0.5", "203.0.113.9", proxy) == "203.0.113.9"
    assert client_address("10.0.0.5", "198.51.100.1, 203.0.113.9, 10.0.0.7", proxy) == (
        "203.0.113.9"
    )
    assert client_address("192.0.2.1", "203.0.113.9", proxy) == "192.0.2.1"  # untrusted peer
    assert client_address("192.0.2.1", "203.0.113.9", []) == "192.0.2.1"
    assert client_address("10.0.0.5", None, proxy) == "10.0.0.5"


def test_the_throttle_waits_a_minute_then_doubles_to_fifteen() -> None:
    assert [wait_after(n) for n in range(1, 7)] == [60, 120, 240, 480, 900, 900]
    assert wait_after(100) == 900


@pytest.mark.anyio
async def test_the_throttle_locks_after_the_failures_and_a_success_resets_it() -> None:
    clock = Clock()
    throttle = MemoryThrottle(3, clock)
    # Each attempt counts as a failure when it starts; a success forgets them all.
    assert [await throttle.attempt("u") for _ in range(2)] == [0, 0]
    await throttle.succeeded("u")
    assert [await throttle.attempt("u") for _ in range(2)] == [0, 0]
    assert await throttle.attempt("u") == 0  # the third may still try...
    assert await throttle.attempt("u") == 60  # ...and, had it failed, the fourth waits
    clock.now += 59
    assert await throttle.attempt("u") == 1
    clock.now += 1
    assert await throttle.attempt("u") == 0  # one more try after the wait...
    assert await throttle.attempt("u") == 120  # ...and the next wait is twice as long
    assert await throttle.attempt("someone else") == 0


@pytest.mark.anyio
async def test_failures_older_than_the_window_are_forgotten() -> None:
    clock = Clock()
    throttle = MemoryThrottle(3, clock)
    assert [await throttle.attempt("u") for _ in range(2)] == [0, 0]
    clock.now += 12 * 3600
    assert [await throttle.attempt("u") for _ in range(2)] == [0, 0]
    assert await throttle.attempt("u") == 0
    assert await throttle.attempt("u") == 60


@pytest.mark.anyio
async def test_a_full_table_drops_other_usernames_before_a_lock(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    throttle = MemoryThrottle(3, Clock())
    await throttle.attempt("victim")
    await throttle.attempt("victim")
    await throttle.attempt("victim")  # locked
    # An attack review filled the table with other usernames and the victim's lock was lost.
    monkeypatch.setattr("vbauth.limits.throttle.MAX_KEYS", 5)
    for n in range(10):
        await throttle.attempt(f"filler-{n}")  # one failure each: not locked
    assert await throttle.attempt("victim") == 60  # the lock outlived the filling


@pytest.mark.anyio
async def test_without_redis_the_limits_fall_back_to_this_instances_buckets() -> None:
    dead = f"redis://127.0.0.1:{free_port()}/0"  # nothing listens there
    buckets = RedisBuckets(dead, timeout=0.05, fallback=MemoryBuckets(), prefix="test")
    rate = Rate(1.0, 2)
    try:
        assert [await buckets.hit("t", rate, "k") for _ in range(2)] == [0.0, 0.0]
        assert await buckets.hit("t", rate, "k") > 0  # still limited, by the local bucket
    finally:
        await buckets.close()


def test_every_forwarded_for_line_counts_not_only_the_first() -> None:
    # A proxy that adds its own X-Forwarded-For line (HAProxy's forwardfor) puts it last: the
    # client's forged line must not win by coming first (an attack review found it did).
    proxy = Settings(trusted_proxies=["127.0.0.1/32"]).trusted_networks
    scope = {
        "type": "http",
        "client": ("127.0.0.1", 5000),
        "headers": [(b"x-forwarded-for", b"8.8.8.8"), (b"x-forwarded-for", b"5.5.5.5")],
    }
    assert scope_client(scope, proxy) == "5.5.5.5"
    request = Request(scope)
    assert client_ip(request, proxy) == "5.5.5.5"


def test_ipv6_clients_share_a_bucket_per_64() -> None:
    # One IPv6 client holds a whole /64: keyed by address it would have endless buckets.
    assert bucket_key("2001:db8:1:2:aaaa::1") == bucket_key("2001:db8:1:2:bbbb::9")
    assert bucket_key("2001:db8:1:3::1") != bucket_key("2001:db8:1:2::1")
    assert bucket_key("203.0.113.9") == "203.0.113.9"
    assert bucket_key("not an address") == "not an address"


def test_a_scope_without_headers_is_its_peer() -> None:
    # The lifespan's scope has no headers: a review found scope_client raised KeyError there
    # behind trusted proxies, failing every background job that wrote to the audit log.
    proxy = Settings(trusted_proxies=["127.0.0.1/32"]).trusted_networks
    assert scope_client({"type": "lifespan"}, proxy) == ""


@pytest.mark.anyio
async def test_hits_sent_together_are_judged_together_and_each_counts() -> None:
    # Concurrent hits go to Redis as one script call (one round trip for many requests).
    buckets = RedisBuckets(
        "redis://127.0.0.1:6379/0", timeout=1.0, fallback=MemoryBuckets(), prefix="vbauth-test"
    )
    key = uuid.uuid4().hex
    try:
        waits = await asyncio.gather(*(buckets.hit("t", Rate(1.0, 5), key) for _ in range(10)))
        other = await buckets.hit("t", Rate(1.0, 5), uuid.uuid4().hex)
    finally:
        await buckets.close()
    assert sorted(wait == 0 for wait in waits) == [False] * 5 + [True] * 5
    assert other == 0
