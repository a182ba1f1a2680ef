"""The fastapi-users peer: a JWT-protected endpoint, set up the way the library's docs show.

Runs in the peers venv (``.bench/peers-venv``), never in vbauth's, and is served by uvicorn with
the settings vbauth uses (see ``catalog.fastapi_users``). ``GET /protected`` goes through
``current_user(active=True)``: the Bearer transport reads the header, ``JWTStrategy`` checks the
signature and audience, and the SQLAlchemy user database loads the user from SQLite on every
request (fastapi-users keeps no cache), which is the cost a benchmark of it should see.

Configuration comes from the environment, so the orchestrator can start it with plain argv:

* ``PEER_FASTAPI_USERS_DB``: path of the SQLite file (made by ``fastapi_users_seed.py``);
* ``PEER_FASTAPI_USERS_SECRET``: the JWT signing secret, shared with the seed that issued the token.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncGenerator

from fastapi import Depends, FastAPI
from fastapi_users import BaseUserManager, FastAPIUsers, UUIDIDMixin
from fastapi_users.authentication import AuthenticationBackend, BearerTransport, JWTStrategy
from fastapi_users_db_sqlalchemy import SQLAlchemyBaseUserTableUUID, SQLAlchemyUserDatabase
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker, create_async_engine
from sqlalchemy.orm import DeclarativeBase

# A day: the token is issued at seed time and must outlive any bench run that follows it.
TOKEN_LIFETIME_SECONDS = 24 * 3600


class Base(DeclarativeBase):
    """The declarative base the library's SQLAlchemy example uses."""


class User(SQLAlchemyBaseUserTableUUID, Base):
    """The library's stock user table (UUID ids), with nothing added."""


def database_url() -> str:
    """The aiosqlite URL of the file the orchestrator chose."""
    return f"sqlite+aiosqlite:///{os.environ['PEER_FASTAPI_USERS_DB']}"


def secret() -> str:
    """The JWT secret: read from the environment so the seed and the server agree on it."""
    return os.environ["PEER_FASTAPI_USERS_SECRET"]


engine = create_async_engine(database_url())
session_maker = async_sessionmaker(engine, expire_on_commit=False)


async def get_async_session() -> AsyncGenerator[AsyncSession, None]:
    """One session per request, as in the library's docs."""
    async with session_maker() as session:
        yield session


async def get_user_db(
    session: AsyncSession = Depends(get_async_session),
) -> AsyncGenerator[SQLAlchemyUserDatabase[User, uuid.UUID], None]:
    """The SQLAlchemy adapter over that session."""
    yield SQLAlchemyUserDatabase(session, User)


class UserManager(UUIDIDMixin, BaseUserManager[User, uuid.UUID]):
    """The stock manager; the token secrets only matter for reset/verify flows, unused here."""

    reset_password_token_secret = secret()
    verification_token_secret = secret()


async def get_user_manager(
    user_db: SQLAlchemyUserDatabase[User, uuid.UUID] = Depends(get_user_db),
) -> AsyncGenerator[UserManager, None]:
    """The manager over the request's user database."""
    yield UserManager(user_db)


def get_jwt_strategy() -> JWTStrategy[User, uuid.UUID]:
    """HS256 JWTs with the library's default audience."""
    return JWTStrategy(secret=secret(), lifetime_seconds=TOKEN_LIFETIME_SECONDS)


auth_backend = AuthenticationBackend(
    name="jwt",
    transport=BearerTransport(tokenUrl="auth/jwt/login"),
    get_strategy=get_jwt_strategy,
)
fastapi_users = FastAPIUsers[User, uuid.UUID](get_user_manager, [auth_backend])
current_active_user = fastapi_users.current_user(active=True)

app = FastAPI()
# The login route is mounted as a normal deployment would; the bench only calls /protected.
app.include_router(fastapi_users.get_auth_router(auth_backend), prefix="/auth/jwt")


@app.get("/protected")
async def protected(user: User = Depends(current_active_user)) -> dict[str, str]:
    """The endpoint under test: authenticated, active users only."""
    return {"email": user.email}
