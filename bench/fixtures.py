"""The servers a bench run loads, and the credentials it loads them with.

Everything is made the way a user would make it: ``vbauth customer create``, then the HTTP API
(login, accesskey create, direct create, boot) against the running server.
"""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import subprocess
import uuid
from dataclasses import dataclass
from pathlib import Path

import asyncpg
import httpx
from bench.harness import Server, free_port

from vbauth.gateway.identity_header import identity_headers, upstream_keys
from vbauth.identity import AgentIdentity
from vbauth.limits.policy import TIERS

ROOT = Path(__file__).resolve().parent.parent
PYTHON = str(ROOT / ".venv" / "bin" / "python")
POSTGRES_ADMIN_URL = os.environ.get(
    "BENCH_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test"
)
REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/0")
EMAIL, PASSWORD = "bench@example.com", "a bench password"
CALLS = "/v1.0/calls"
AI_ID = "a1b2c3d4-e5f6-7890-abcd-ef1234567890"
JWT_SECRET = secrets.token_urlsafe(48)  # one per run, shared by every vbauth of the run
# Identity headers signed with a shared secret (HS256), as a deployment that sets
# VBAUTH_UPSTREAM_SECRET has them: the bench's upstream runs before any vbauth publishes a JWKS.
# With EdDSA identity headers (the default without it) each forwarded request pays an Ed25519
# signature more: docs/performance.md gives the measured difference.
UPSTREAM_SECRET = secrets.token_urlsafe(48)
UNREACHED_RATE = "1000000/1000000"


@dataclass(frozen=True)
class Credentials:
    customer_id: str
    agent_id: str
    token: str  # a login JWT
    accesskey: str
    accesskey_id: str
    direct_token: str


def vbauth_env(data_dir: Path, **extra: str) -> dict[str, str]:
    """A production-like vbauth: default argon2, default caches, a log file, no Redis."""
    return {
        **{name: "" for name in os.environ if name.startswith("VBAUTH_")},
        "VBAUTH_DATA_DIR": str(data_dir),
        "VBAUTH_JWT_SECRET": JWT_SECRET,
        "VBAUTH_UPSTREAM_SECRET": UPSTREAM_SECRET,
        # Every rate tier on, at a rate the load never reaches: their cost is measured, and
        # no figure is a count of 429s.
        **{f"VBAUTH_RATE_LIMIT_{tier.upper()}": UNREACHED_RATE for tier in TIERS},
        "VBAUTH_COOKIE_SECURE": "false",
        **extra,
    }


def vbauth_server(name: str, data_dir: Path, *, workers: int = 1, **env: str) -> Server:
    data_dir.mkdir(parents=True, exist_ok=True)
    port = free_port()
    return Server(
        name=name,
        argv=[PYTHON, "-m", "vbauth", "serve", "--port", str(port), "--workers", str(workers)],
        port=port,
        env=vbauth_env(data_dir, VBAUTH_PUBLIC_URL=f"http://127.0.0.1:{port}", **env),
        log_path=data_dir / "server.log",
    )


def floor_server() -> Server:
    port = free_port()
    argv = [PYTHON, "-m", "uvicorn", "bench.floor_app:app", "--port", str(port)]
    argv += ["--no-access-log", "--log-level", "warning"]
    return Server(name="starlette", argv=argv, port=port, env={"PYTHONPATH": str(ROOT)})


def demo_upstream_server(data_dir: Path) -> Server:
    port = free_port()
    argv = [PYTHON, "-m", "vbauth", "demo-upstream", "--port", str(port)]
    data_dir.mkdir(parents=True, exist_ok=True)
    return Server(
        name="demo-upstream",
        argv=argv,
        port=port,
        env=vbauth_env(data_dir),
        ready_path="/v1.0/calls",  # 401 without an identity: it answers
    )


def routes_file(directory: Path, upstream: str) -> Path:
    """The default route table with the demo upstream reached over HTTP instead of in process."""
    path = directory / "routes.toml"
    text = (ROOT / "src/vbauth/gateway/routes.toml").read_text()
    path.write_text(text.replace('"asgi://demo"', f'"{upstream}"'))
    return path


def seed(server: Server) -> Credentials:
    """A customer, its admin's login token, an accesskey and a booted direct token."""
    created = subprocess.run(
        [
            PYTHON,
            "-m",
            "vbauth",
            "customer",
            "create",
            "--email",
            EMAIL,
            "--admin-password",
            PASSWORD,
            "--json",
        ],
        env={**os.environ, **server.env},
        capture_output=True,
        text=True,
        check=True,
    )
    customer = json.loads(created.stdout)
    with httpx.Client(base_url=server.base, timeout=30) as http:
        login = http.post("/auth/login", json={"username": EMAIL, "password": PASSWORD})
        token = login.raise_for_status().json()["token"]
        auth = {"Authorization": f"Bearer {token}"}
        key = http.post("/v1.0/accesskeys", headers=auth, json={"name": "bench"})
        key_body = key.raise_for_status().json()
        direct = http.post(
            "/v1.0/directs", headers=auth, json={"resource_type": "ai", "resource_id": AI_ID}
        ).raise_for_status()
        boot = http.post("/auth/boot", json={"direct_hash": direct.json()["hash"]})
        direct_token = boot.raise_for_status().json()["token"]
    return Credentials(
        customer_id=customer["customer"]["id"],
        agent_id=customer["agent"]["id"],
        token=token,
        accesskey=key_body["token"],
        accesskey_id=key_body["id"],
        direct_token=direct_token,
    )


def fresh_postgres_database(name: str) -> str:
    """Drop and create ``name`` on the bench's PostgreSQL; returns vbauth's URL for it."""

    async def recreate() -> None:
        connection = await asyncpg.connect(POSTGRES_ADMIN_URL)
        try:
            await connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            await connection.execute(f'CREATE DATABASE "{name}"')
        finally:
            await connection.close()

    asyncio.run(recreate())
    base = POSTGRES_ADMIN_URL.rsplit("/", 1)[0]
    return base.replace("postgresql://", "postgresql+asyncpg://") + f"/{name}"


def identity_header_for(credentials: Credentials) -> dict[str, str]:
    """What vbauth would attach for the admin agent: to call the demo upstream directly."""
    keys = upstream_keys(UPSTREAM_SECRET, "vbauth")
    identity = AgentIdentity(
        agent_id=uuid.UUID(credentials.agent_id),
        customer_id=uuid.UUID(credentials.customer_id),
        session_id=uuid.uuid4(),
        permission=32,
        username=EMAIL,
        customer_status="active",
    )
    return identity_headers(keys, identity, "req_bench", audience="demo", method="GET", path=CALLS)
