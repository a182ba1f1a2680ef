"""Shared fixtures: one migrated database and one app per run, a clean slate per test.

The database is SQLite in a temporary directory, or the one named by
``VBAUTH_TEST_DATABASE_URL`` (CI runs the suite a second time against PostgreSQL).
"""

from __future__ import annotations

import asyncio
import os
import secrets
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Browser, sync_playwright
from sqlalchemy import delete, text
from sqlalchemy.ext.asyncio import create_async_engine

from tests.mailbox import Mailbox, smtp_server
from vbauth import migrate
from vbauth.app import create_app
from vbauth.limits.policy import TIERS
from vbauth.mailer import Mailer, SmtpServer
from vbauth.models import (
    AccessKey,
    Agent,
    Binding,
    Customer,
    Delegation,
    Direct,
    LoginSession,
    OneTimeToken,
    OutboxMessage,
)
from vbauth.runtime import Runtime
from vbauth.settings import Settings

TEST_SECRET = secrets.token_urlsafe(48)
BASE_URL = "https://vbauth.test"


@pytest.fixture(scope="session")
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(scope="session")
def database_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    url = os.environ.get("VBAUTH_TEST_DATABASE_URL")
    if not url:
        return f"sqlite+aiosqlite:///{tmp_path_factory.mktemp('db') / 'vbauth.db'}"
    asyncio.run(_reset_postgres(url))
    return url


async def _reset_postgres(url: str) -> None:
    """Start from an empty schema, so migrations are tested from scratch every run."""
    engine = create_async_engine(url)
    async with engine.begin() as connection:
        await connection.execute(text("DROP SCHEMA public CASCADE"))
        await connection.execute(text("CREATE SCHEMA public"))
    await engine.dispose()


@pytest.fixture(scope="session")
def settings(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Settings:
    migrate.upgrade(database_url)
    return make_settings(database_url, tmp_path_factory.mktemp("data"))


def make_settings(database_url: str, data_dir: Path, **overrides: object) -> Settings:
    """Test settings: tiny argon2 parameters (about a millisecond a hash), a fixed secret."""
    values: dict[str, object] = {
        "database_url": database_url,
        "data_dir": data_dir,
        "jwt_secret": TEST_SECRET,
        "argon2_memory_kib": 64,
        "argon2_time_cost": 1,
        "argon2_parallelism": 1,
        # Tests send many requests from one address in a second: limits are off unless a
        # test turns one on (tests/test_limits.py).
        **{f"rate_limit_{tier}": "0" for tier in TIERS},
        **overrides,
    }
    return Settings.model_validate(values)


@pytest.fixture(scope="session")
async def runtime(settings: Settings) -> AsyncIterator[Runtime]:
    runtime = Runtime.build(settings)
    await runtime.start()
    yield runtime
    await runtime.close()


@pytest.fixture(scope="session")
def app(runtime: Runtime):  # type: ignore[no-untyped-def]
    return create_app(runtime=runtime)


@pytest.fixture
async def client(app, runtime: Runtime) -> AsyncIterator[httpx.AsyncClient]:  # type: ignore[no-untyped-def]
    """A fresh client (no cookies carried over) on a clean database."""
    transport = httpx.ASGITransport(app=app, client=("203.0.113.7", 50000))
    async with httpx.AsyncClient(transport=transport, base_url=BASE_URL) as http:
        yield http
    await _wipe(runtime)


async def _wipe(runtime: Runtime) -> None:
    async with runtime.transaction() as session:
        for model in (
            Delegation,
            Binding,
            OutboxMessage,
            OneTimeToken,
            AccessKey,
            Direct,
            LoginSession,
            Agent,
            Customer,
        ):
            await session.execute(delete(model))
    runtime.authenticator.identity_cache.invalidate()
    runtime.authenticator.claims_cache.invalidate()
    runtime.authenticator.take_last_used()


@pytest.fixture
def mailbox(runtime: Runtime, monkeypatch: pytest.MonkeyPatch) -> Iterator[Mailbox]:
    """Route the runtime's mail to a real local SMTP server for this test."""
    with smtp_server() as (box, port):
        mailer = Mailer(
            sessions=runtime.write_sessions,
            server=SmtpServer.from_url(f"smtp://127.0.0.1:{port}"),
            sender="vbauth <no-reply@vbauth.test>",
        )
        monkeypatch.setattr(runtime, "mailer", mailer)
        yield box


CHROMIUM = "/usr/bin/chromium"
# A closed network: Chromium must not try to phone home (see the machine notes).
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    """Debian's Chromium, driven by Playwright, for the modules that test pages."""
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()
