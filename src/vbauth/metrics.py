"""What vbauth is doing, for Prometheus (``GET /metrics``, ``VBAUTH_METRICS``).

With several workers (``vbauth serve --workers N``) each process writes its figures to files in
``PROMETHEUS_MULTIPROC_DIR`` (the serve command sets it) and a scrape of any worker adds them
all up: prometheus-client's multiprocess mode, which must be chosen before this module is
imported, as the variable is.

Every request is counted, so the hot path keeps each label set's child (``labels()`` costs more
than the increment) and never formats a label it has seen.
"""

from __future__ import annotations

import os
from collections.abc import Callable

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from prometheus_client import multiprocess as multi

MULTIPROCESS = bool(os.environ.get("PROMETHEUS_MULTIPROC_DIR"))
CONTENT_TYPE = CONTENT_TYPE_LATEST
# Methods are the client's to spell: anything else is one label, not one series per spelling.
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "WS"})

REQUESTS = Counter(
    "vbauth_requests_total",
    "Requests answered, by route template (or hot path), method and status.",
    ["route", "method", "status"],
)
LATENCY = Histogram(
    "vbauth_request_duration_seconds",
    "Time from a request's arrival to its answer's start, by route template.",
    ["route"],
    buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0),
)
AUTHENTICATIONS = Counter(
    "vbauth_authentications_total",
    "Credentials judged, by kind (agent, accesskey, direct, delegate; token or accesskey when "
    "refused) and outcome (ok, or the refusal's reason).",
    ["kind", "outcome"],
)
IDENTITY_CACHE = Counter(
    "vbauth_identity_cache_total",
    "Identity lookups answered from the cache (hit) or the database (miss).",
    ["result"],
)
RATE_LIMITED = Counter(
    "vbauth_rate_limited_total", "Requests refused by a rate tier, by tier.", ["tier"]
)
LOGINS = Counter("vbauth_logins_total", "Password logins, by outcome.", ["outcome"])
LOGIN_LATENCY = Histogram(
    "vbauth_login_duration_seconds",
    "Time a password login takes (argon2id included).",
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0),
)
SOCKETS = Gauge(
    "vbauth_websocket_connections", "Open WebSocket connections.", multiprocess_mode="livesum"
)
DELIVERIES = Counter("vbauth_websocket_deliveries_total", "Event frames queued to sockets.")
DATABASE_CONNECTIONS = Gauge(
    "vbauth_database_connections",
    "Connections of the database pool, by state (in_use, idle).",
    ["state"],
    multiprocess_mode="livesum",
)
OUTBOX = Gauge(
    "vbauth_mail_outbox_waiting",
    "Mails waiting in the outbox (pending or being retried).",
    multiprocess_mode="livemax",
)
REDIS_UP = Gauge(
    "vbauth_redis_up",
    "1 while Redis answers, 0 while vbauth runs on without it (local limits and events).",
    multiprocess_mode="livemin",
)


class RequestMetrics:
    """The per-request figures, with each label set's child kept after its first use."""

    def __init__(self) -> None:
        self._counts: dict[tuple[str, str, int], Callable[[], None]] = {}
        self._latencies: dict[str, Callable[[float], None]] = {}

    def observe(self, route: str, method: str, status: int, seconds: float) -> None:
        count = self._counts.get((route, method, status))
        if count is None:
            shown = method if method in METHODS else "other"
            count = REQUESTS.labels(route, shown, str(status)).inc
            self._counts[(route, method, status)] = count
        count()
        latency = self._latencies.get(route)
        if latency is None:
            latency = self._latencies[route] = LATENCY.labels(route).observe
        latency(seconds)


class LabelledCount:
    """A counter's children by label tuple, kept: ``count(kind, outcome)``."""

    def __init__(self, counter: Counter) -> None:
        self._counter = counter
        self._children: dict[tuple[str, ...], Callable[[], None]] = {}

    def __call__(self, *labels: str) -> None:
        child = self._children.get(labels)
        if child is None:
            child = self._children[labels] = self._counter.labels(*labels).inc
        child()


requests = RequestMetrics()
authentication = LabelledCount(AUTHENTICATIONS)
identity_cache = LabelledCount(IDENTITY_CACHE)
rate_limited = LabelledCount(RATE_LIMITED)
logins = LabelledCount(LOGINS)


def exposition() -> bytes:
    """The text a scrape gets: this process's figures, or every worker's in multiprocess mode."""
    if not MULTIPROCESS:
        return generate_latest(REGISTRY)
    registry = CollectorRegistry()
    multi.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
    return generate_latest(registry)


def process_ended() -> None:
    """In multiprocess mode, let this worker's live gauges go with it."""
    if MULTIPROCESS:
        multi.mark_process_dead(os.getpid())  # type: ignore[no-untyped-call]
