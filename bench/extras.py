"""Figures other than steady throughput: logins, cold decisions, key-table scale, revocation.

Each returns rows for the bench's table; each row says what it is measured against.
"""

from __future__ import annotations

import asyncio
import os
import statistics
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import asyncpg
import httpx
from argon2 import PasswordHasher, Type
from bench import auth_decision
from bench.fixtures import (
    CALLS,
    EMAIL,
    PASSWORD,
    REDIS_URL,
    Credentials,
    fresh_postgres_database,
    seed,
    vbauth_server,
)
from bench.harness import Load, Server, wrk
from bench.rows import Row, bounded_row, ratio_row

from vbauth.security.keys import display_prefix, hash_accesskey, new_accesskey
from vbauth.settings import Settings

CORES = os.cpu_count() or 1
LOGIN_BODY = f'{{"username": "{EMAIL}", "password": "{PASSWORD}"}}'


def login_rows(server: Server, *, seconds: float) -> list[Row]:
    """Logins per second at production argon2id, against what the cores can hash, and what a
    login storm does to /ping's p99 and to the server's memory."""
    limit = CORES / _one_verify_seconds()
    login = Load(
        "/auth/login",
        method="POST",
        body=LOGIN_BODY,
        headers={"Content-Type": "application/json"},
    )
    with _PingProbe(server) as probe:
        storm = wrk(server, login, seconds=seconds, connections=16)
    ping_p99 = probe.p99
    # Far more logins at once than can be hashed: the queue bounds them, the rest get 503s.
    flood = wrk(server, login, seconds=max(2.0, seconds / 2), connections=256, threads=2)
    peak_mib = _peak_rss_mib(server)
    return [
        Row("argon2id hashing limit (cores / one verify)", limit, "logins/s"),
        ratio_row(
            "logins/s, production argon2id, c=16",
            storm.rps,
            "logins/s",
            baseline=("argon2id hashing limit (cores / one verify)", limit),
            target=0.8,
            cpu_us=storm.cpu_us,
        ),
        bounded_row("GET /ping p99 during the login storm", ping_p99, "ms", at_most=50),
        bounded_row(
            f"peak RSS after 256 logins at once ({flood.bad} got 503)", peak_mib, "MiB", at_most=512
        ),
    ]


def _one_verify_seconds() -> float:
    default = {name: field.default for name, field in Settings.model_fields.items()}
    hasher = PasswordHasher(
        time_cost=default["argon2_time_cost"],
        memory_cost=default["argon2_memory_kib"],
        parallelism=default["argon2_parallelism"],
        type=Type.ID,
    )
    stored = hasher.hash(PASSWORD)
    rounds = 20
    started = time.perf_counter()
    for _ in range(rounds):
        hasher.verify(stored, PASSWORD)
    return (time.perf_counter() - started) / rounds


class _PingProbe:
    """GET /ping a hundred times a second from a thread, noting each latency: a user's view of
    the server during a storm, light enough not to be part of the load itself."""

    def __init__(self, server: Server) -> None:
        self._url = server.base + "/ping"
        self._stop = threading.Event()
        self.latencies_ms: list[float] = []
        self._thread = threading.Thread(target=self._probe, daemon=True)

    def __enter__(self) -> _PingProbe:
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _probe(self) -> None:
        with httpx.Client(timeout=10) as client:
            while not self._stop.wait(0.01):
                started = time.perf_counter()
                client.get(self._url).raise_for_status()
                self.latencies_ms.append((time.perf_counter() - started) * 1000)

    @property
    def p99(self) -> float:
        ordered = sorted(self.latencies_ms)
        return ordered[round(0.99 * (len(ordered) - 1))]


def _peak_rss_mib(server: Server) -> float:
    assert server.process is not None
    for line in Path(f"/proc/{server.process.pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


def cold_rows(work: Path) -> list[Row]:
    """An authentication decision with the identity read from SQLite each time (no cache)."""
    (work / "decision").mkdir(parents=True, exist_ok=True)
    settings = auth_decision.settings_in(work / "decision")  # migrates: outside the loop
    figures = asyncio.run(auth_decision.decisions(settings))
    return [
        Row("decision, cached (in process)", figures["cached"], "µs"),
        bounded_row(
            "decision, uncached, SQLite (in process)",
            figures["uncached"] / 1000,
            "ms",
            at_most=0.5,
        ),
    ]


def scale_rows(work: Path) -> list[Row]:
    """Cold accesskey verification (identity cache off) with 1,000 and 1,000,000 keys stored."""
    url = fresh_postgres_database("vbauth_bench_scale")
    server = vbauth_server(
        "scale", work / "scale-pg", VBAUTH_DATABASE_URL=url, VBAUTH_IDENTITY_CACHE_TTL="0"
    )
    with server:
        creds = seed(server)
        keys = asyncio.run(_insert_keys(url, creds.customer_id, real=200, filler=800))
        small = _cold_verify(server, keys)
        asyncio.run(_insert_keys(url, creds.customer_id, real=0, filler=999_000))
        large = _cold_verify(server, keys)
    return [
        Row("cold accesskey verify p50, 1,000 keys", small, "ms"),
        ratio_row(
            "cold accesskey verify p50, 1,000,000 keys",
            large,
            "ms",
            baseline=("cold accesskey verify p50, 1,000 keys", small),
            target=1.2,
            at_most=True,
        ),
    ]


async def _insert_keys(url: str, customer_id: str, *, real: int, filler: int) -> list[str]:
    """``real`` usable keys (returned) and ``filler`` rows of random digests, then ANALYZE."""
    connection = await asyncpg.connect(url.replace("+asyncpg", ""))
    try:
        customer = uuid.UUID(customer_id)
        tokens = [new_accesskey() for _ in range(real)]
        await connection.executemany(
            "INSERT INTO accesskeys (id, customer_id, name, detail, token_hash, token_prefix,"
            " tm_expire, tm_create) VALUES ($1, $2, '', '', $3, $4,"
            " now() + interval '1 year', now())",
            [(uuid.uuid4(), customer, hash_accesskey(t), display_prefix(t)) for t in tokens],
        )
        await connection.execute(
            "INSERT INTO accesskeys (id, customer_id, name, detail, token_hash, token_prefix,"
            " tm_expire, tm_create)"
            " SELECT gen_random_uuid(), $1, '', '', md5(random()::text) || md5(g::text),"
            " 'vb_filler00', now() + interval '1 year', now()"
            " FROM generate_series(1, $2::int) AS g",
            customer,
            filler,
        )
        await connection.execute("ANALYZE accesskeys")
    finally:
        await connection.close()
    return tokens


def _cold_verify(server: Server, keys: list[str]) -> float:
    paths = tuple(f"/auth/verify{CALLS}?accesskey={key}" for key in keys)
    result = wrk(server, Load(paths[0], paths=paths), seconds=5, connections=1)
    if result.bad:
        raise SystemExit(f"cold verification: {result.bad} bad answers")
    return result.p50_ms


def revocation_rows(work: Path, *, samples: int) -> list[Row]:
    """Delete a key on one instance; how long until another instance refuses it?"""
    url = fresh_postgres_database("vbauth_bench_revoke")
    shared = {"VBAUTH_DATABASE_URL": url, "VBAUTH_REDIS_URL": REDIS_URL}
    first = vbauth_server("revoke-a", work / "revoke-a", **shared)
    second = vbauth_server("revoke-b", work / "revoke-b", **shared)
    with first, second:
        creds = seed(first)
        delays = _revocation_delays(first, second, creds, samples)
    delays.sort()
    p99 = delays[min(len(delays) - 1, round(0.99 * (len(delays) - 1)))]
    return [
        Row("revocation across instances p50", statistics.median(delays), "ms"),
        bounded_row("revocation across instances p99", p99, "ms", at_most=200),
    ]


def _revocation_delays(
    first: Server, second: Server, creds: Credentials, samples: int
) -> list[float]:
    auth = {"Authorization": f"Bearer {creds.token}"}
    delays = []
    verify = f"{second.base}/auth/verify{CALLS}"
    with httpx.Client(base_url=first.base, headers=auth) as a, httpx.Client() as b:

        def status_on_b(token: str) -> int:
            return b.get(verify, params={"accesskey": token}).status_code

        for _ in range(samples):
            key = a.post("/v1.0/accesskeys", json={"name": "doomed"}).raise_for_status().json()
            _until(lambda token=key["token"]: status_on_b(token) == 200)  # B has it cached
            a.delete(f"/v1.0/accesskeys/{key['id']}").raise_for_status()
            deleted = time.perf_counter()
            _until(lambda token=key["token"]: status_on_b(token) == 401)
            delays.append((time.perf_counter() - deleted) * 1000)
    return delays


def _until(condition: Callable[[], bool], timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise SystemExit("revocation: the other instance never agreed")
