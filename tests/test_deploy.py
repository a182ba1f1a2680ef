"""docs/deploy.md's recipe on loopback: Debian's nginx in front of two vbauth instances sharing
one PostgreSQL and one Redis. Traffic goes through nginx while one instance is stopped; events,
revocations and rate limits cross from one instance to the other."""

from __future__ import annotations

import asyncio
import json
import secrets
import signal
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from string import Template

import asyncpg
import httpx
import pytest
import websockets

from tests.mailbox import free_port
from tests.server import Server, running_server, start_nginx

ROOT = Path(__file__).resolve().parent.parent
POSTGRES = "postgresql://postgres@127.0.0.1:5432"
DATABASE = f"vbauth_deploy_{uuid.uuid4().hex[:12]}"
PASSWORD = "correct horse battery"


async def _database(statement: str) -> None:
    connection = await asyncpg.connect(f"{POSTGRES}/test")
    try:
        await connection.execute(statement)
    finally:
        await connection.close()


@dataclass
class Deployment:
    front: str  # nginx
    first: Server
    second: Server
    nginx_logs: Path


@pytest.fixture(scope="module")
def deployment(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployment]:
    asyncio.run(_database(f"CREATE DATABASE {DATABASE}"))
    shared = {
        "VBAUTH_DATABASE_URL": f"{POSTGRES.replace('postgresql', 'postgresql+asyncpg')}/{DATABASE}",
        "VBAUTH_REDIS_URL": "redis://127.0.0.1:6379/0",
        "VBAUTH_JWT_SECRET": secrets.token_urlsafe(48),
        "VBAUTH_TRUSTED_PROXIES": "127.0.0.1/32",
        "VBAUTH_RATE_LIMIT_V1_CUSTOMER": "1/6",
    }
    with ExitStack() as stack:
        first = stack.enter_context(running_server(tmp_path_factory.mktemp("one"), **shared))
        second = stack.enter_context(running_server(tmp_path_factory.mktemp("two"), **shared))
        prefix = tmp_path_factory.mktemp("nginx")
        port = free_port()
        config = prefix / "nginx.conf"
        config.write_text(
            Template((ROOT / "docs" / "deploy.nginx.conf").read_text()).safe_substitute(
                LISTEN=f"127.0.0.1:{port}",
                VBAUTH_1=first.base.removeprefix("http://"),
                VBAUTH_2=second.base.removeprefix("http://"),
                LOGS=str(prefix / "logs"),
            )
        )
        process = start_nginx(config)
        stack.callback(process.wait, 10)
        stack.callback(process.terminate)
        front = f"http://127.0.0.1:{port}"
        _until(lambda: httpx.get(f"{front}/ping", timeout=1).status_code == 200)
        yield Deployment(front, first, second, prefix / "logs")
    asyncio.run(_database(f"DROP DATABASE IF EXISTS {DATABASE} WITH (FORCE)"))


def _until(condition: object, patience: float = 30) -> None:
    deadline = time.monotonic() + patience
    while time.monotonic() < deadline:
        try:
            if condition():  # type: ignore[operator]
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    raise AssertionError("not in time")


def _customer(deployment: Deployment) -> tuple[str, str]:
    """A new customer's admin through nginx: (customer id, login token)."""
    email = f"deploy-{secrets.token_hex(4)}@example.com"
    deployment.first.cli("customer", "create", "--email", email, "--admin-password", PASSWORD)
    login = httpx.post(
        f"{deployment.front}/auth/login", json={"username": email, "password": PASSWORD}
    )
    token = login.json()["token"]
    me = httpx.get(f"{deployment.front}/v1.0/me", params={"token": token}).json()
    return me["customer_id"], token


@pytest.mark.anyio
async def test_events_cross_instances_through_nginx(deployment: Deployment) -> None:
    customer_id, token = _customer(deployment)
    url = f"{deployment.front.replace('http://', 'ws://')}/v1.0/ws?token={token}"
    async with websockets.connect(url) as socket, httpx.AsyncClient() as http:
        await socket.send(
            json.dumps({"type": "subscribe", "topics": [f"customer_id:{customer_id}"]})
        )
        assert json.loads(await socket.recv())["type"] == "subscribed"
        made = []
        for server in (deployment.first, deployment.second):  # whichever holds the socket
            key = await http.post(
                f"{server.base}/v1.0/accesskeys", params={"token": token}, json={"name": "x"}
            )
            made.append(key.json()["id"])
        seen = [json.loads(await asyncio.wait_for(socket.recv(), 10))["data"]["id"] for _ in made]
    assert sorted(seen) == sorted(made)


def test_a_revocation_on_one_instance_holds_on_the_other(deployment: Deployment) -> None:
    _, token = _customer(deployment)
    through = httpx.get(f"{deployment.front}/v1.0/me", params={"token": token})
    assert through.status_code == 200
    assert httpx.get(f"{deployment.front}/metrics").status_code == 404  # scraped directly only
    # nginx's access log holds no credential (the path, not its query).
    access = (deployment.nginx_logs / "vbauth-access.log").read_text()
    assert "/v1.0/me" in access and token not in access and token[:16] not in access
    other = httpx.get(f"{deployment.second.base}/v1.0/me", params={"token": token})
    assert other.status_code == 200  # cached there now
    assert httpx.post(f"{deployment.first.base}/auth/logout", params={"token": token}).is_success
    again = httpx.get(f"{deployment.second.base}/v1.0/me", params={"token": token})
    assert again.status_code == 401


def test_a_customer_s_rate_limit_is_shared_by_the_instances(deployment: Deployment) -> None:
    _, token = _customer(deployment)
    answers = []
    for _ in range(10):  # nginx spreads them over both instances
        answers.append(
            httpx.get(f"{deployment.front}/v1.0/me", params={"token": token}).status_code
        )
    assert answers.count(200) <= 7  # one bucket of 6 (and a refill), not one per instance
    assert 429 in answers


def test_stopping_one_instance_mid_run_loses_no_request(deployment: Deployment) -> None:
    results: list[int] = []
    stop = threading.Event()

    def drive() -> None:
        with httpx.Client(base_url=deployment.front, timeout=10) as http:
            while not stop.is_set():
                try:
                    results.append(http.get("/.well-known/jwks.json").status_code)
                except httpx.HTTPError:
                    results.append(0)

    drivers = [threading.Thread(target=drive) for _ in range(4)]
    for driver in drivers:
        driver.start()
    time.sleep(1)
    assert deployment.first.process is not None
    deployment.first.process.send_signal(signal.SIGTERM)
    deployment.first.process.wait(timeout=20)
    time.sleep(1.5)
    stop.set()
    for driver in drivers:
        driver.join(timeout=15)
    assert len(results) > 100
    assert set(results) == {200}, {code: results.count(code) for code in set(results)}
    # The stop was met mid-run: nginx found the stopped instance gone and asked the other.
    access = (deployment.nginx_logs / "vbauth-access.log").read_text()
    stopped = deployment.first.base.removeprefix("http://")
    retried = [line for line in access.splitlines() if f"upstream={stopped}, " in line]
    assert retried, "no request met the stopped instance"
