"""Engine, session factory and the column types shared by SQLite and PostgreSQL."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, cast

import asyncpg
from sqlalchemy import Label, MetaData, Table, bindparam, event, inspect, make_url
from sqlalchemy import update as sql_update
from sqlalchemy.engine import Dialect
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.orm import DeclarativeBase
from sqlalchemy.types import DateTime, TypeDecorator

from vbauth.settings import SettingsError

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class UTCDateTime(TypeDecorator[datetime]):
    """Aware UTC datetimes on both databases (SQLite keeps no time zone, so store naive UTC)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetimes are not stored; use vbauth.clock")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


SessionFactory = async_sessionmaker[AsyncSession]


def database_unavailable(error: BaseException) -> bool:
    """Whether ``error`` says the database cannot be reached or stopped answering (refused,
    reset, timed out, shutting down), rather than that a statement was wrong: the request gets
    503 and may be retried, and the trace is not worth a log line each time."""
    seen: BaseException | None = error
    while seen is not None:  # drivers' errors come wrapped (SQLAlchemy's, asyncpg's)
        if isinstance(seen, UNAVAILABLE):
            return True
        if isinstance(seen, DBAPIError) and seen.connection_invalidated:
            return True
        # What it was raised from, or the driver's own error: not __context__, which may hold
        # an unrelated error handled earlier in the same frame.
        seen = seen.__cause__ or getattr(seen, "orig", None)
    return False


UNAVAILABLE: tuple[type[BaseException], ...] = (
    OSError,  # refused, reset, unreachable (ConnectionError and socket errors are OSErrors)
    TimeoutError,  # asyncio's and the socket's
    PoolTimeout,  # no pooled connection came back in time
    OperationalError,  # SQLAlchemy's wrapper of the drivers' "cannot talk to the server now"
    InterfaceError,  # the connection is closed or broken under the driver
    asyncpg.exceptions.PostgresConnectionError,  # class 08: connection exceptions
    asyncpg.exceptions.OperatorInterventionError,  # class 57: shutting down, cannot connect now
    asyncpg.exceptions.TooManyConnectionsError,
    asyncpg.exceptions.InterfaceError,  # the connection was closed in the middle of an operation
)


def make_engine(url: str, *, timeout: float = 5.0) -> AsyncEngine:
    """An async engine; on SQLite, with WAL, foreign keys, and transactions vbauth controls."""
    if url.startswith("sqlite"):
        database = make_url(url).database
        if database and database != ":memory:":
            directory = Path(database).parent
            try:
                directory.mkdir(parents=True, exist_ok=True)
            except OSError as error:
                raise SettingsError(
                    f"VBAUTH_DATA_DIR (or the SQLite path): cannot create {directory}: "
                    f"{error.strerror or type(error).__name__}"
                ) from None
        # hide_parameters: a failed statement's error names no bound value (a hash, a token).
        engine = create_async_engine(url, connect_args={"timeout": 30}, hide_parameters=True)
        _tune_sqlite(engine)
        return engine
    return create_async_engine(
        url,
        pool_pre_ping=True,
        pool_size=10,
        max_overflow=20,
        hide_parameters=True,
        # Every wait on the server is bounded, so a database gone away answers 503 in seconds
        # instead of holding requests: connecting, waiting for a pooled connection (both
        # ``timeout``), and each statement (three times as long: a slow query is not an outage).
        pool_timeout=timeout,
        connect_args={"timeout": timeout, "command_timeout": 3 * timeout},
    )


def _tune_sqlite(engine: AsyncEngine) -> None:
    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Take BEGIN away from the driver: pysqlite's own BEGIN comes late and is always
        # DEFERRED, which lets two writers read the same snapshot and then fail to upgrade.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(connection: Any) -> None:
        # Writers take the lock up front (BEGIN IMMEDIATE) and queue behind busy_timeout;
        # readers stay DEFERRED so they never wait on a writer under WAL.
        mode = connection.get_execution_options().get("sqlite_begin", "DEFERRED")
        connection.exec_driver_sql(f"BEGIN {mode}")


def make_sessionmakers(engine: AsyncEngine) -> tuple[SessionFactory, SessionFactory]:
    """Factories for read sessions and write sessions (the latter lock early on SQLite)."""
    reader = async_sessionmaker(engine, expire_on_commit=False)
    writer_engine = engine.execution_options(sqlite_begin="IMMEDIATE")
    writer = async_sessionmaker(writer_engine, expire_on_commit=False)
    return reader, writer


def mark_identity_changed(session: AsyncSession) -> None:
    """Note that this transaction changes who someone is (permission, deletion, revocation).

    The runtime clears its identity cache once the transaction has committed: clearing before
    would let a concurrent request re-cache the state that is being replaced.
    """
    session.info["identity_changed"] = True


def columns_of(model: type[Base], *, leaving_out: frozenset[str] = frozenset()) -> list[Label[Any]]:
    """The columns of ``model``, labelled by attribute name (``flags``, not ``metadata``), for
    Core reads whose rows a response schema validates as if they were the ORM object."""
    return [
        getattr(model, attribute.key).label(attribute.key)
        for attribute in inspect(model).column_attrs
        if attribute.key not in leaving_out
    ]


def new_id() -> uuid.UUID:
    return uuid.uuid4()


async def set_each(
    session: AsyncSession, model: type[Base], column: str, values: dict[uuid.UUID, Any]
) -> None:
    """Set ``column`` of each row (by id) to its value, in one executemany UPDATE; rows that
    are gone are skipped. For writes batched off the request path (last use, last seen)."""
    if not values:
        return
    table = cast(Table, model.__table__)
    statement = (
        sql_update(table)
        .where(table.c.id == bindparam("row_id"))
        .values({column: bindparam("value")})
    )
    await session.execute(statement, [{"row_id": k, "value": v} for k, v in values.items()])
