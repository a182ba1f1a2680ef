"""Point reads for the hot path, by the cheapest road each database offers.

Authenticating an uncached credential, ``GET /v1.0/me`` and ``GET /v1.0/customer`` each read one
row by an indexed key. Through the async ORM that costs a session, a transaction and, on SQLite,
a hop to aiosqlite's thread for every statement: about a millisecond of CPU for a lookup the
database does in microseconds. Queries stay SQLAlchemy Core statements (the models remain the one
truth about the schema); only the road differs:

- SQLite: a plain ``sqlite3`` connection in autocommit, read on the event loop. An indexed read
  takes tens of microseconds, less than handing it to a thread; under WAL a reader does not wait
  for writers or checkpoints, and a short busy timeout bounds any other wait (WAL recovery).
- PostgreSQL: asyncpg's own pool with the statement compiled once to ``$n`` SQL and prepared per
  connection (asyncpg caches it). No ORM, no greenlet, no pre-ping per checkout: when a
  connection turns out dead, every pooled one is replaced and the read is tried once more.

Writes, and every other read, keep going through the ORM sessions of ``Runtime.transaction``.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Mapping
from typing import Any, Protocol, cast

import asyncpg
from sqlalchemy import Select, create_engine, make_url
from sqlalchemy.dialects.postgresql import asyncpg as postgres_asyncpg
from sqlalchemy.engine import Connection
from sqlalchemy.exc import DBAPIError
from sqlalchemy.pool import StaticPool

Row = Mapping[str, Any]
AnySelect = Select[*tuple[Any, ...]]
SQLITE_BUSY_TIMEOUT_MS = 200  # the longest the loop may wait on a lock (WAL readers hardly ever do)


class HotReads(Protocol):
    async def first(self, query: AnySelect, params: Mapping[str, Any]) -> Row | None:
        """The first row of ``query`` with these bound parameters, or ``None``."""

    async def close(self) -> None: ...


def hot_reads(url: str, *, timeout: float = 5.0) -> HotReads:
    if url.startswith("sqlite"):
        return SqliteReads(url)
    return PostgresReads(url, timeout=timeout)


class SqliteReads:
    def __init__(self, url: str) -> None:
        sync_url = make_url(url).set(drivername="sqlite")
        self._engine = create_engine(
            sync_url,
            poolclass=StaticPool,  # one connection, only ever used from the event loop's thread
            connect_args={"check_same_thread": False, "timeout": SQLITE_BUSY_TIMEOUT_MS / 1000},
            isolation_level="AUTOCOMMIT",  # each SELECT its own snapshot, released at once
            hide_parameters=True,  # errors name no bound value (a key's digest, say)
        )
        self._connection: Connection | None = None

    async def first(self, query: AnySelect, params: Mapping[str, Any]) -> Row | None:
        if self._connection is None:
            self._connection = self._engine.connect()
        try:
            return cast(Row | None, self._connection.execute(query, params).mappings().first())
        except DBAPIError:
            self._connection.invalidate()  # a fresh connection for the next read
            self._connection = None
            raise

    async def close(self) -> None:
        if self._connection is not None:
            self._connection.close()
            self._connection = None
        self._engine.dispose()


# How asyncpg reports a connection the server closed, depending on when it noticed: as the
# server's own termination notice, as a vanished connection, or as a confused protocol state.
CONNECTION_LOST = (
    asyncpg.PostgresConnectionError,
    asyncpg.AdminShutdownError,
    asyncpg.InterfaceError,
    asyncpg.InternalClientError,
    ConnectionError,
)


class PostgresReads:
    POOL_SIZE = 10

    def __init__(self, url: str, *, timeout: float = 5.0) -> None:
        self._dsn = make_url(url).set(drivername="postgresql").render_as_string(False)
        # Connecting, and a whole read (waiting for a pooled connection included), are bounded:
        # a database gone away is a 503 in seconds, not a request held (db.make_engine).
        self._timeout = timeout
        self._dialect = postgres_asyncpg.dialect()  # type: ignore[no-untyped-call]
        self._compiled: dict[AnySelect, tuple[str, list[str], dict[str, Any]]] = {}
        self._pool: asyncpg.Pool | None = None
        self._opening = asyncio.Lock()

    async def first(self, query: AnySelect, params: Mapping[str, Any]) -> Row | None:
        sql, names, constants = self._compiled.get(query) or self._compile(query)
        arguments = [params[name] if name in params else constants[name] for name in names]
        async with asyncio.timeout(3 * self._timeout):
            pool = self._pool or await self._open()
            try:
                record = await pool.fetchrow(sql, *arguments)
            except CONNECTION_LOST:
                # The server closed a connection (restart, failover): then it closed the others
                # too. Every pooled connection is replaced before its next use, and the read is
                # tried again.
                await pool.expire_connections()
                record = await pool.fetchrow(sql, *arguments)
        return None if record is None else dict(record.items())

    def _compile(self, query: AnySelect) -> tuple[str, list[str], dict[str, Any]]:
        compiled = query.compile(dialect=self._dialect)
        # The values the statement itself binds (a literal in a subquery, say) beside those the
        # caller passes.
        constants = {name: value for name, value in compiled.params.items() if value is not None}
        entry = (compiled.string, list(compiled.positiontup or []), constants)
        self._compiled[query] = entry
        return entry

    async def _open(self) -> asyncpg.Pool:
        async with self._opening:
            if self._pool is None:
                self._pool = await asyncpg.create_pool(
                    self._dsn,
                    min_size=1,
                    max_size=self.POOL_SIZE,
                    init=_json_codecs,
                    timeout=self._timeout,
                    command_timeout=3 * self._timeout,
                )
        return self._pool

    async def close(self) -> None:
        if self._pool is not None:
            await self._pool.close()
            self._pool = None


async def _json_codecs(connection: asyncpg.Connection) -> None:
    """JSON columns as Python values, as SQLAlchemy reads them."""
    for kind in ("json", "jsonb"):
        await connection.set_type_codec(
            kind, encoder=json.dumps, decoder=json.loads, schema="pg_catalog"
        )
