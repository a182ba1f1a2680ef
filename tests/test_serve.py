"""``vbauth serve`` on a fresh data directory: what ``make run`` does, over real HTTP.

Runs the seed's flows against a real uvicorn process using the embedded SQLite default and a
generated JWT secret, exactly as a first ``make run`` on a new machine would.
"""

from __future__ import annotations

import json
import socket
import stat
import time
from collections.abc import Iterator

import httpx
import pytest

from tests.factories import PASSWORD
from tests.server import Server, running_server

EMAIL = "owner@example.com"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    with running_server(tmp_path_factory.mktemp("serve")) as server:
        created = server.cli("customer", "create", "--email", EMAIL, "--admin-password", PASSWORD)
        assert created["agent"]["username"] == EMAIL
        yield server


def test_the_seed_login_example_works_and_the_token_works_three_ways(server: Server) -> None:
    response = httpx.post(
        f"{server.base}/auth/login",
        headers={"Content-Type": "application/json"},
        content=json.dumps({"username": EMAIL, "password": PASSWORD}),
    )
    assert response.status_code == 200
    token = response.json()["token"]
    assert response.json()["username"] == EMAIL
    for kwargs in (
        {"params": {"token": token}},
        {"headers": {"Authorization": f"Bearer {token}"}},
        {"headers": {"Cookie": f"token={token}"}},
    ):
        me = httpx.get(f"{server.base}/v1.0/me", **kwargs)  # type: ignore[arg-type]
        assert me.status_code == 200, me.text
        assert me.json()["username"] == EMAIL
    bad = httpx.get(f"{server.base}/v1.0/me", params={"token": token[:-3] + "abc"})
    assert bad.status_code == 401


def test_the_seed_accesskey_examples_work(server: Server) -> None:
    token = httpx.post(
        f"{server.base}/auth/login", json={"username": EMAIL, "password": PASSWORD}
    ).json()["token"]
    response = httpx.post(
        f"{server.base}/v1.0/accesskeys?token={token}",
        headers={"Content-Type": "application/json"},
        content='{"name": "my-api-key", "detail": "API key for automated access"}',
    )
    assert response.status_code == 200
    key = response.json()["token"]
    assert httpx.get(f"{server.base}/v1.0/customer?accesskey={key}").status_code == 200
    assert httpx.get(f"{server.base}/v1.0/customer?token={key}").status_code == 401
    signup = httpx.post(
        f"{server.base}/auth/signup", json={"email": "new@example.com", "accepted_tos": True}
    )
    signup_key = signup.json()["accesskey"]["token"]
    assert httpx.get(f"{server.base}/v1.0/customer?accesskey={signup_key}").status_code == 200


def test_the_generated_secret_is_kept_private_and_credentials_stay_out_of_the_log(
    server: Server,
) -> None:
    secret_file = server.data_dir / "jwt_secret"
    assert stat.S_IMODE(secret_file.stat().st_mode) == 0o600
    token = httpx.post(
        f"{server.base}/auth/login", json={"username": EMAIL, "password": PASSWORD}
    ).json()["token"]
    httpx.get(f"{server.base}/v1.0/me", params={"token": token})
    spelt = httpx.get(f"{server.base}/v1.0/me?%74oken={token}")  # the server decodes the name
    assert spelt.status_code == 200
    key = httpx.post(f"{server.base}/v1.0/accesskeys", params={"token": token}, json={}).json()[
        "token"
    ]
    assert httpx.get(f"{server.base}/v1.0/customer", params={"accesskey": key}).status_code == 200
    time.sleep(0.2)
    text = server.log.read_text()
    assert f"GET /v1.0/customer?accesskey={key[:11]}" in text
    assert key not in text
    assert "GET /v1.0/me?token=" in text
    assert token not in text
    assert token[11:40] not in text
    assert secret_file.read_text().strip() not in text
    assert (server.data_dir / "vbauth.db").exists()


def test_a_literal_dot_dot_path_is_refused_by_the_real_server(server: Server) -> None:
    """httpx would normalise it, so speak HTTP by hand, as curl --path-as-is does."""
    host, port = server.base.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=5) as connection:
        connection.sendall(
            b"GET /v1.0/aicalls/../calls HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
        )
        answer = b""
        while chunk := connection.recv(65536):
            answer += chunk
    assert answer.startswith(b"HTTP/1.1 400")
    assert b"INVALID_PATH" in answer
