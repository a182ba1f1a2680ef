"""A running vbauth while the real PostgreSQL goes away and comes back, through a TCP proxy the
test cuts and restores: bounded 503s, cached credentials still served, no traceback, and
service resumed by itself."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import asyncpg
import httpx
import pytest
import websockets

from tests.server import Server, running_server
from tests.tcp_proxy import TcpProxy, tcp_proxy

POSTGRES = ("127.0.0.1", 5432)
# A database of this run's own: another run at the same time (a second checkout) keeps its.
DATABASE = f"vbauth_outages_{uuid.uuid4().hex[:12]}"
PASSWORD = "correct horse battery"
# No request may wait longer than this, however the database fails: a bound, not a timing.
PATIENCE = 20.0


async def _drop_database() -> None:
    admin = await asyncpg.connect(
        host=POSTGRES[0], port=POSTGRES[1], user="postgres", database="test"
    )
    try:
        await admin.execute(f"DROP DATABASE IF EXISTS {DATABASE} WITH (FORCE)")
    finally:
        await admin.close()


async def _fresh_database() -> None:
    admin = await asyncpg.connect(
        host=POSTGRES[0], port=POSTGRES[1], user="postgres", database="test"
    )
    try:
        await admin.execute(f"CREATE DATABASE {DATABASE}")
    finally:
        await admin.close()


@dataclass
class Setup:
    server: Server
    proxy: TcpProxy
    token: str  # a login token, used (so cached) before each outage
    accesskey: str  # never used before the outage: its identity is not cached


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Setup]:
    asyncio.run(_fresh_database())
    with tcp_proxy(*POSTGRES) as proxy:
        url = f"postgresql+asyncpg://postgres@127.0.0.1:{proxy.port}/{DATABASE}"
        with running_server(
            tmp_path_factory.mktemp("outages"),
            VBAUTH_DATABASE_URL=url,
            VBAUTH_DATABASE_TIMEOUT="1",
            VBAUTH_IDENTITY_CACHE_TTL="60",  # long enough to outlive the outage in this test
            # A background job meets the outage too: it says so once, not a trace a time.
            VBAUTH_SIGNING_KEY_REFRESH_SECONDS="0.2",
        ) as server:
            email = "ops@example.com"
            server.cli("customer", "create", "--email", email, "--admin-password", PASSWORD)
            with httpx.Client(base_url=server.base, timeout=PATIENCE) as http:
                token = http.post(
                    "/auth/login", json={"username": email, "password": PASSWORD}
                ).json()["token"]
                key = http.post(
                    "/v1.0/accesskeys", params={"token": token}, json={"name": "later"}
                ).json()["token"]
            yield Setup(server, proxy, token, key)
    asyncio.run(_drop_database())


def test_postgres_gone_is_a_bounded_503_and_cached_credentials_still_pass(setup: Setup) -> None:
    server, proxy = setup.server, setup.proxy
    with httpx.Client(base_url=server.base, timeout=PATIENCE) as http:
        verify = {"X-Original-URI": "/v1.0/calls", "Authorization": f"Bearer {setup.token}"}
        assert http.get("/auth/verify", headers=verify).status_code == 200  # now cached
        proxy.cut()
        try:
            # A credential already known keeps working for its cache lifetime.
            assert http.get("/auth/verify", headers=verify).status_code == 200
            # What needs the database is told so, promptly, in the envelope.
            for answer in (
                http.get("/v1.0/customer", params={"accesskey": setup.accesskey}),
                http.post("/auth/login", json={"username": "ops@example.com", "password": "x"}),
                http.get("/v1.0/agents", params={"token": setup.token}),
            ):
                assert answer.status_code == 503, answer.text
                error = answer.json()["error"]
                assert (error["status"], error["reason"]) == ("UNAVAILABLE", "SERVICE_UNAVAILABLE")
                assert answer.headers["retry-after"]
            ready = http.get("/health/ready")
            assert ready.status_code == 503
            assert {d["check"] for d in ready.json()["error"]["details"]} >= {"database"}
            assert http.get("/health/live").status_code == 200
            console = http.get("/admin/signin")  # the console's pages do not need it
            assert console.status_code == 200
            time.sleep(0.6)  # long enough for the background jobs to meet the outage too
        finally:
            proxy.restore()
        _until_ready(http)
        customer = http.get("/v1.0/customer", params={"accesskey": setup.accesskey})
        assert customer.status_code == 200  # resumed by itself
    back = "signing-key refresh: the database answers again"  # a job every 0.2 s says it
    deadline = time.monotonic() + PATIENCE
    while back not in server.log.read_text():
        assert time.monotonic() < deadline, "the end of the outage was never logged"
        time.sleep(0.1)
    log = server.log.read_text()
    assert "Traceback" not in log
    assert "the database does not answer" in log  # said once, plainly


def _until_ready(http: httpx.Client) -> None:
    deadline = time.monotonic() + PATIENCE
    while time.monotonic() < deadline:
        if http.get("/health/ready").status_code == 200:
            return
        time.sleep(0.2)
    raise AssertionError("vbauth did not come back after the database did")


REDIS = ("127.0.0.1", 6379)


@pytest.fixture(scope="module")
def redis_cut(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Server, TcpProxy]]:
    with (
        tcp_proxy(*REDIS) as proxy,
        running_server(
            tmp_path_factory.mktemp("redis-outage"),
            VBAUTH_REDIS_URL=f"redis://127.0.0.1:{proxy.port}/0",
            VBAUTH_METRICS="open",
            VBAUTH_RATE_LIMIT_V1_CUSTOMER="1/5",
        ) as server,
    ):
        server.cli(
            "customer", "create", "--email", "cache@example.com", "--admin-password", PASSWORD
        )
        yield server, proxy


@pytest.mark.anyio
async def test_redis_gone_is_served_locally_said_everywhere_and_rejoined(
    redis_cut: tuple[Server, TcpProxy],
) -> None:
    server, proxy = redis_cut
    async with httpx.AsyncClient(base_url=server.base, timeout=PATIENCE) as http:
        token = (
            await http.post(
                "/auth/login", json={"username": "cache@example.com", "password": PASSWORD}
            )
        ).json()["token"]
        http.cookies.clear()
        customer_id = (await http.get("/v1.0/me", params={"token": token})).json()["customer_id"]
        assert (await http.get("/health/ready")).json()["checks"]["redis"] == "ok"
        proxy.cut()
        try:
            # Events: delivered in process to this instance's sockets.
            socket_url = f"{server.base.replace('http://', 'ws://')}/v1.0/ws?token={token}"
            async with websockets.connect(socket_url) as socket:
                topic = f"customer_id:{customer_id}"
                await socket.send(json.dumps({"type": "subscribe", "topics": [topic]}))
                assert json.loads(await socket.recv())["type"] == "subscribed"
                made = await http.post(
                    "/v1.0/accesskeys", params={"token": token}, json={"name": "no redis"}
                )
                assert made.status_code == 200
                event = json.loads(await asyncio.wait_for(socket.recv(), timeout=PATIENCE))
                assert (event["type"], event["data"]["id"]) == (
                    "accesskey_created",
                    made.json()["id"],
                )
            # Limits: this instance's own buckets judge.
            answers = [
                (await http.get("/v1.0/me", params={"token": token})).status_code for _ in range(12)
            ]
            assert 429 in answers and answers[0] == 200
            # Said in /health/ready (served on: degraded, not down) and in the metrics.
            ready = await http.get("/health/ready")
            assert ready.status_code == 200 and ready.json()["status"] == "degraded"
            assert ready.json()["checks"]["redis"] != "ok"
            assert "vbauth_redis_up 0.0" in (await http.get("/metrics")).text
        finally:
            proxy.restore()
        deadline = time.monotonic() + PATIENCE
        while (await http.get("/health/ready")).json().get("status") != "ok":
            assert time.monotonic() < deadline, "Redis was not rejoined"
            await asyncio.sleep(0.2)
        assert "vbauth_redis_up 1.0" in (await http.get("/metrics")).text
    assert "Redis did not answer" in server.log.read_text()  # said in the log too
