"""docs/nginx.conf, run by a real nginx in front of the demo upstream, with vbauth deciding."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from string import Template

import httpx
import pytest

from tests.factories import PASSWORD
from tests.mailbox import free_port
from tests.server import Server, running_server, start_nginx

ROOT = Path(__file__).resolve().parent.parent
EMAIL = "nginx-owner@example.com"


def _wait_for(url: str, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        assert process.poll() is None, f"exited while waiting for {url}"
        try:
            httpx.get(url, timeout=1)
            return
        except httpx.TransportError:
            time.sleep(0.1)
    raise AssertionError(f"{url} did not come up")


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Server]]:
    data_dir = tmp_path_factory.mktemp("nginx-stack")
    limits = {"VBAUTH_TRUSTED_PROXIES": "127.0.0.1/32", "VBAUTH_RATE_LIMIT_V1_CUSTOMER": "1/8"}
    with running_server(data_dir, **limits) as server:
        demo_port, nginx_port = free_port(), free_port()
        demo = subprocess.Popen(
            [sys.executable, "-m", "vbauth", "demo-upstream", "--port", str(demo_port)],
            env=server.env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.STDOUT,
        )
        prefix = data_dir / "nginx"
        prefix.mkdir()
        config = prefix / "nginx.conf"
        config.write_text(
            Template((ROOT / "docs" / "nginx.conf").read_text()).safe_substitute(
                LISTEN=f"127.0.0.1:{nginx_port}",
                VBAUTH=server.base.removeprefix("http://"),
                UPSTREAM=f"127.0.0.1:{demo_port}",
            )
        )
        proxy = start_nginx(config)
        try:
            _wait_for(f"http://127.0.0.1:{demo_port}/v1.0/calls", demo)
            _wait_for(f"http://127.0.0.1:{nginx_port}/auth/verify", proxy)
            server.cli("customer", "create", "--email", EMAIL, "--admin-password", PASSWORD)
            yield f"http://127.0.0.1:{nginx_port}", server
        finally:
            for process in (proxy, demo):
                process.terminate()
                process.wait(timeout=10)


def _login(base: str, username: str) -> str:
    response = httpx.post(f"{base}/auth/login", json={"username": username, "password": PASSWORD})
    assert response.status_code == 200, response.text
    return str(response.json()["token"])


def test_nginx_lets_a_token_through_to_the_api(stack: tuple[str, Server]) -> None:
    base, _ = stack
    token = _login(base, EMAIL)
    listed = httpx.get(f"{base}/v1.0/calls", headers={"Authorization": f"Bearer {token}"})
    assert listed.status_code == 200, listed.text
    assert listed.json() == {"result": [], "next_page_token": ""}
    created = httpx.post(
        f"{base}/v1.0/calls",
        headers={"Authorization": f"Bearer {token}"},
        json={
            "source": {"type": "tel", "target": "+15550000001"},
            "destinations": [{"type": "tel", "target": "+15550000002"}],
        },
    )
    assert created.status_code == 200
    [call] = created.json()["calls"]
    again = httpx.get(f"{base}/v1.0/calls/{call['id']}?token={token}")
    assert again.status_code == 200
    assert again.json()["customer_id"] == call["customer_id"]


def test_nginx_refuses_what_vbauth_refuses(stack: tuple[str, Server]) -> None:
    base, server = stack
    # vbauth's envelope and reason, not nginx's HTML page (a newcomer's walkthrough got HTML).
    missing = httpx.get(f"{base}/v1.0/calls")
    assert missing.status_code == 401
    assert missing.json()["error"]["reason"] == "AUTHENTICATION_REQUIRED"
    assert missing.headers["www-authenticate"].startswith("Bearer")
    forged_token = httpx.get(f"{base}/v1.0/calls?token=forged")
    assert forged_token.status_code == 401
    assert forged_token.json()["error"]["reason"] == "INVALID_CREDENTIALS"
    assert forged_token.json()["error"]["request_id"] == forged_token.headers["x-request-id"]
    forged = {"X-VB-Identity": "forged", "X-VB-Customer-Id": "anyone"}
    assert httpx.get(f"{base}/v1.0/calls", headers=forged).status_code == 401
    token = _login(base, EMAIL)
    customer_id = httpx.get(f"{base}/v1.0/customer?token={token}").json()["id"]
    agent = server.cli(
        "agent",
        "create",
        "--customer-id",
        customer_id,
        "--username",
        "plain@example.com",
        "--password",
        PASSWORD,
        "--permission",
        "16",
    )
    assert agent["agent"]["permission"] == 16
    plain = _login(base, "plain@example.com")
    refused = httpx.get(f"{base}/v1.0/calls?token={plain}")
    assert refused.status_code == 403
    assert refused.json()["error"]["reason"] == "PERMISSION_DENIED"


def test_a_rate_limit_reaches_the_client_as_a_429_through_nginx(stack: tuple[str, Server]) -> None:
    base, server = stack
    email = "nginx-busy@example.com"
    server.cli("customer", "create", "--email", email, "--admin-password", PASSWORD)
    token = _login(base, email)
    answers = [httpx.get(f"{base}/v1.0/calls?token={token}") for _ in range(9)]
    assert [a.status_code for a in answers[:8]] == [200] * 8
    refused = answers[8]
    assert refused.status_code == 429, refused.text
    assert int(refused.headers["retry-after"]) >= 1
    error = refused.json()["error"]
    assert error["reason"] == "RATE_LIMIT_EXCEEDED"
    assert error["request_id"] == refused.headers["x-request-id"]
