"""Seed the fastapi-users peer: schema, one active user, and a JWT for it, printed as JSON.

Run by ``catalog.fastapi_users`` in the peers venv with the same environment as the server
(``PEER_FASTAPI_USERS_DB``, ``PEER_FASTAPI_USERS_SECRET``). The user is created through the
library's own ``UserManager.create`` (so the password is hashed as the library does) and the token
comes from the same ``JWTStrategy.write_token`` that the login route uses: the bench's credential
is exactly what a real client of this service would hold.
"""

from __future__ import annotations

import asyncio
import json
import sys

from fastapi_users import schemas
from fastapi_users_app import Base, User, UserManager, engine, get_jwt_strategy, session_maker
from fastapi_users_db_sqlalchemy import SQLAlchemyUserDatabase

EMAIL = "bench@example.com"
PASSWORD = "bench password, long enough"


async def create_schema() -> None:
    """Create the tables, and put the file in WAL mode as vbauth does with its own SQLite."""
    async with engine.begin() as connection:
        await connection.exec_driver_sql("PRAGMA journal_mode=WAL")
        await connection.run_sync(Base.metadata.create_all)


async def create_user_and_token() -> str:
    """Create one active user via the manager and issue its JWT via the strategy."""
    async with session_maker() as session:
        manager = UserManager(SQLAlchemyUserDatabase(session, User))
        user = await manager.create(schemas.BaseUserCreate(email=EMAIL, password=PASSWORD))
    return await get_jwt_strategy().write_token(user)


async def main() -> None:
    """Seed, then print what the orchestrator needs; the engine is disposed so the file is final."""
    try:
        await create_schema()
        token = await create_user_and_token()
    finally:
        await engine.dispose()
    json.dump({"email": EMAIL, "token": token}, sys.stdout)


if __name__ == "__main__":
    asyncio.run(main())
