"""Hot reads (``vbauth.reads``) when PostgreSQL kills the pool's connections."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import pytest

from tests.factories import make_customer
from vbauth import migrate
from vbauth.reads import PostgresReads
from vbauth.runtime import Runtime
from vbauth.services.customers import CUSTOMER_BY_ID
from vbauth.settings import Settings

pytestmark = pytest.mark.anyio

POSTGRES = "postgresql://postgres@127.0.0.1:5432"
DATABASE = "vbauth_reads_test"


def _settings(url: str, data_dir: Path) -> Settings:
    return Settings(
        database_url=url,
        data_dir=data_dir,
        jwt_secret="Zq8rT2vL5nW9xB4kM7pD1sF6hJ3gC0yA",
        argon2_memory_kib=64,
        argon2_time_cost=1,
    )


async def _runtime(url: str, data_dir: Path) -> Runtime:
    await asyncio.to_thread(migrate.upgrade, url)
    return Runtime.build(_settings(url, data_dir))


@pytest.fixture
async def postgres_url() -> AsyncIterator[str]:
    admin = await asyncpg.connect(f"{POSTGRES}/postgres")
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{DATABASE}" WITH (FORCE)')
        await admin.execute(f'CREATE DATABASE "{DATABASE}"')
        yield f"postgresql+asyncpg://postgres@127.0.0.1:5432/{DATABASE}"
        await admin.execute(f'DROP DATABASE IF EXISTS "{DATABASE}" WITH (FORCE)')
    finally:
        await admin.close()


async def test_postgres_reads_survive_connections_the_server_killed(
    postgres_url: str, tmp_path: Path
) -> None:
    runtime = await _runtime(postgres_url, tmp_path)
    try:
        tenant = await make_customer(runtime)
        assert isinstance(runtime.reads, PostgresReads)
        params = {"customer_id": tenant.customer.id}
        # Several reads at once, so the pool holds several connections for the server to kill.
        reads = [runtime.reads.first(CUSTOMER_BY_ID, params) for _ in range(5)]
        first = (await asyncio.gather(*reads))[0]
        assert first is not None and first["id"] == tenant.customer.id
        assert isinstance(first["flags"], dict)  # JSON columns decoded, as the ORM reads them
        admin = await asyncpg.connect(f"{POSTGRES}/postgres")
        try:
            killed = await admin.fetchval(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity"
                " WHERE datname = $1 AND pid <> pg_backend_pid()",
                DATABASE,
            )
        finally:
            await admin.close()
        assert killed >= 1
        # No pause: the pool has not yet noticed; its next reads meet dead connections.
        for _ in range(5):  # every pooled connection was replaced, not only the first one met
            again = await runtime.reads.first(CUSTOMER_BY_ID, params)
            assert again is not None
        assert await runtime.reads.first(CUSTOMER_BY_ID, {"customer_id": uuid.uuid4()}) is None
    finally:
        await runtime.close()
