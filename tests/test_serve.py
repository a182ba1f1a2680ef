"""``vbauth serve`` on a fresh data directory: what ``make run`` does, over real HTTP.

Runs the seed's flow against a real uvicorn process using the embedded SQLite default and a
generated JWT secret, exactly as a first ``make run`` on a new machine would.
"""

from __future__ import annotations

import json
import os
import socket
import stat
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.factories import PASSWORD

EMAIL = "owner@example.com"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _environment(data_dir: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("VBAUTH_")}
    env.update(
        VBAUTH_DATA_DIR=str(data_dir),
        VBAUTH_ARGON2_MEMORY_KIB="64",
        VBAUTH_ARGON2_TIME_COST="1",
        VBAUTH_COOKIE_SECURE="false",
    )
    return env


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path, Path]]:
    data_dir = tmp_path_factory.mktemp("serve")
    env = _environment(data_dir)
    vbauth = [sys.executable, "-m", "vbauth"]
    created = subprocess.run(
        [*vbauth, "customer", "create", "--email", EMAIL, "--admin-password", PASSWORD, "--json"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert json.loads(created.stdout)["agent"]["username"] == EMAIL
    port = _free_port()
    log = data_dir / "server.log"
    with log.open("w") as log_file:
        process = subprocess.Popen(
            [*vbauth, "serve", "--port", str(port)],
            env=env,
            stdout=log_file,
            stderr=subprocess.STDOUT,
        )
        base = f"http://127.0.0.1:{port}"
        try:
            _wait_until_up(base, process)
            yield base, data_dir, log
        finally:
            process.terminate()
            process.wait(timeout=10)


def _wait_until_up(base: str, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        assert process.poll() is None, "the server exited"
        try:
            if httpx.get(f"{base}/ping", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            time.sleep(0.1)
    raise AssertionError("the server did not come up in 30 s")


def test_the_seed_login_example_works_and_the_token_works_three_ways(
    server: tuple[str, Path, Path],
) -> None:
    base, _, _ = server
    response = httpx.post(
        f"{base}/auth/login",
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
        me = httpx.get(f"{base}/v1.0/me", **kwargs)  # type: ignore[arg-type]
        assert me.status_code == 200, me.text
        assert me.json()["username"] == EMAIL
    bad = httpx.get(f"{base}/v1.0/me", params={"token": token[:-3] + "abc"})
    assert bad.status_code == 401


def test_the_generated_secret_is_kept_private_and_credentials_stay_out_of_the_log(
    server: tuple[str, Path, Path],
) -> None:
    base, data_dir, log = server
    secret_file = data_dir / "jwt_secret"
    assert stat.S_IMODE(secret_file.stat().st_mode) == 0o600
    token = httpx.post(f"{base}/auth/login", json={"username": EMAIL, "password": PASSWORD}).json()[
        "token"
    ]
    httpx.get(f"{base}/v1.0/me", params={"token": token})
    key = httpx.post(f"{base}/v1.0/accesskeys", params={"token": token}, json={}).json()["token"]
    assert httpx.get(f"{base}/v1.0/customer", params={"accesskey": key}).status_code == 200
    time.sleep(0.2)
    text = log.read_text()
    assert f"GET /v1.0/customer?accesskey={key[:11]}" in text
    assert key not in text
    assert "GET /v1.0/me?token=" in text
    assert token not in text
    assert token[11:40] not in text
    assert secret_file.read_text().strip() not in text
    assert (data_dir / "vbauth.db").exists()
