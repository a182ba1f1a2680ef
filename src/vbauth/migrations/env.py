"""Alembic environment: the URL comes from the caller (``vbauth.migrate``), never from a file."""

from __future__ import annotations

import asyncio

from alembic import context
from sqlalchemy.engine import Connection

from vbauth import models  # noqa: F401 - registers every table on Base.metadata
from vbauth.db import Base, make_engine

config = context.config


def _configure(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=Base.metadata,
        render_as_batch=connection.dialect.name == "sqlite",  # SQLite alters by copying tables
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


async def _run_online() -> None:
    engine = make_engine(config.attributes["url"])
    try:
        async with engine.connect() as connection:
            await connection.run_sync(_configure)
            await connection.commit()
    finally:
        await engine.dispose()


asyncio.run(_run_online())
