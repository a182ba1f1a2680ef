"""Two vbauth processes sharing PostgreSQL and Redis: events and revocations cross between them."""

from __future__ import annotations

import asyncio
import json
import secrets
from collections.abc import Iterator
from contextlib import ExitStack

import asyncpg
import httpx
import pytest
import websockets

from tests.factories import PASSWORD
from tests.server import Server, running_server

pytestmark = pytest.mark.anyio

REDIS_URL = "redis://127.0.0.1:6379/0"
POSTGRES = "postgresql://postgres@127.0.0.1:5432"
DATABASE = "vbauth_events_test"
ROOT = "root@example.com"


async def _fresh_database() -> None:
    connection = await asyncpg.connect(f"{POSTGRES}/postgres")
    try:
        await connection.execute(f"DROP DATABASE IF EXISTS {DATABASE} WITH (FORCE)")
        await connection.execute(f"CREATE DATABASE {DATABASE}")
    finally:
        await connection.close()


@pytest.fixture(scope="module")
def pair(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Server, Server]]:
    asyncio.run(_fresh_database())
    shared = {
        "VBAUTH_DATABASE_URL": f"{POSTGRES.replace('postgresql', 'postgresql+asyncpg')}/{DATABASE}",
        "VBAUTH_REDIS_URL": REDIS_URL,
        "VBAUTH_JWT_SECRET": secrets.token_urlsafe(48),
    }
    with ExitStack() as stack:
        first = stack.enter_context(running_server(tmp_path_factory.mktemp("one"), **shared))
        second = stack.enter_context(running_server(tmp_path_factory.mktemp("two"), **shared))
        first.cli("bootstrap", "--username", ROOT, "--password", PASSWORD)
        yield first, second


def _login(server: Server, username: str) -> str:
    response = httpx.post(
        f"{server.base}/auth/login", json={"username": username, "password": PASSWORD}
    )
    return str(response.json()["token"])


def _tenant(server: Server) -> tuple[str, str]:
    """A new customer made on ``server``: (its id, its admin's email)."""
    email = f"pair-{secrets.token_hex(4)}@example.com"
    created = httpx.post(
        f"{server.base}/v1.0/customers",
        params={"token": _login(server, ROOT)},
        json={"email": email, "admin_password": PASSWORD},
    ).json()
    return created["id"], email


def _ws(server: Server, **params: str) -> str:
    query = "&".join(f"{name}={value}" for name, value in params.items())
    return f"{server.base.replace('http://', 'ws://')}/v1.0/ws?{query}"


async def test_an_event_published_on_one_instance_reaches_a_subscriber_on_the_other(
    pair: tuple[Server, Server],
) -> None:
    first, second = pair
    customer_id, email = _tenant(first)
    token = _login(first, email)
    async with websockets.connect(_ws(second, token=token)) as socket:
        await socket.send(
            json.dumps({"type": "subscribe", "topics": [f"customer_id:{customer_id}"]})
        )
        assert json.loads(await socket.recv())["type"] == "subscribed"
        key = httpx.post(
            f"{first.base}/v1.0/accesskeys",
            params={"token": token},
            json={"name": "made on the first"},
        ).json()
        event = json.loads(await asyncio.wait_for(socket.recv(), timeout=5))
        assert (event["type"], event["data"]["id"]) == ("accesskey_created", key["id"])


async def test_a_revocation_on_one_instance_closes_a_socket_on_the_other(
    pair: tuple[Server, Server],
) -> None:
    first, second = pair
    _, email = _tenant(first)
    token = _login(first, email)
    key = httpx.post(f"{first.base}/v1.0/accesskeys", params={"token": token}, json={}).json()
    async with websockets.connect(_ws(second, accesskey=key["token"])) as socket:
        await socket.send(json.dumps({"type": "unsubscribe", "topics": ["a:b"]}))
        await socket.recv()
        started = asyncio.get_running_loop().time()
        httpx.delete(f"{first.base}/v1.0/accesskeys/{key['id']}", params={"token": token})
        with pytest.raises(websockets.ConnectionClosed) as closed:
            await asyncio.wait_for(socket.recv(), timeout=3)
        assert closed.value.rcvd.code == 1008
        assert asyncio.get_running_loop().time() - started < 1.0
    # And the key no longer works on the second instance either, cache or not.
    response = httpx.get(f"{second.base}/v1.0/customer", params={"accesskey": key["token"]})
    assert response.status_code == 401
