"""Login: username and password in, a login session and its token out."""

from __future__ import annotations

import hashlib
import time
import uuid
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import bindparam, select
from sqlalchemy.ext.asyncio import AsyncSession

from vbauth import clock, metrics
from vbauth.authn import DEAD_CUSTOMER_STATUSES, LOGIN_TOKEN_TYPE
from vbauth.db import mark_identity_changed
from vbauth.identity import Identity
from vbauth.limits.throttle import LoginThrottle
from vbauth.models import Agent, Customer, LoginSession
from vbauth.reads import HotReads
from vbauth.security.passwords import MAX_PASSWORD_LENGTH, Passwords
from vbauth.security.tokens import IssuedToken, KeyRing
from vbauth.services import audit
from vbauth.services.errors import InvalidCredentials, TooManyRequests
from vbauth.services.validation import normalize_username

Transactions = Callable[[], AbstractAsyncContextManager[AsyncSession]]


@dataclass(frozen=True, slots=True)
class LoginResult:
    agent: Agent
    session: LoginSession
    token: IssuedToken


async def login(
    reads: HotReads,
    begin: Transactions,
    *,
    passwords: Passwords,
    keys: KeyRing,
    username: str,
    password: str,
    ttl: int,
    client_ip: str = "",
    user_agent: str = "",
    throttle: LoginThrottle | None = None,
) -> LoginResult:
    """A login, unless the username's failures throttle it (429 ``LOGIN_THROTTLED``).

    The throttle is asked before any password work, so a throttled guess costs no hash; it
    counts failures and forgets them at the first success (``limits/throttle.py``).
    """
    throttle = throttle or LoginThrottle(None)
    name = normalize_username(username)
    try:
        await throttle.attempt(name)  # counted now as a failure; a success forgets it
    except TooManyRequests:
        metrics.logins("throttled")
        if audit.first_in_a_while(("login_throttled", name)):  # a refusal costs no write
            customer_id = await _customer_of(reads, name)
            details = {"username": name} if customer_id else {"username_digest": _digest(name)}
            await audit.record_alone(
                begin, "login_throttled", customer_id=customer_id, details=details
            )
        raise
    started = time.perf_counter()
    try:
        result = await _checked_login(
            reads,
            begin,
            passwords=passwords,
            keys=keys,
            username=name,
            password=password,
            ttl=ttl,
            client_ip=client_ip,
            user_agent=user_agent,
        )
    except InvalidCredentials as error:
        metrics.logins("failed")
        metrics.LOGIN_LATENCY.observe(time.perf_counter() - started)
        # A known username's failure is its customer's to see; an unknown one is kept
        # platform-wide, and only as a digest: people type passwords into username fields.
        customer_id = getattr(error, "customer_id", None)
        details = {"username": name} if customer_id else {"username_digest": _digest(name)}
        await audit.record_alone(begin, "login_failed", customer_id=customer_id, details=details)
        raise
    metrics.logins("succeeded")
    metrics.LOGIN_LATENCY.observe(time.perf_counter() - started)
    await throttle.succeeded(name)
    return result


async def _customer_of(reads: HotReads, username: str) -> uuid.UUID | None:
    agent = await reads.first(AGENT_BY_USERNAME, {"username": username})
    return agent["customer_id"] if agent is not None else None


def _digest(username: str) -> str:
    return hashlib.sha256(username.encode()).hexdigest()[:16]


class LoginFailed(InvalidCredentials):
    """A failed login, knowing whose customer the username belongs to (for the audit log)."""

    def __init__(self, customer_id: uuid.UUID | None = None) -> None:
        super().__init__()
        self.customer_id = customer_id


async def _checked_login(
    reads: HotReads,
    begin: Transactions,
    *,
    passwords: Passwords,
    keys: KeyRing,
    username: str,
    password: str,
    ttl: int,
    client_ip: str,
    user_agent: str,
) -> LoginResult:
    """Check the password (the same work whether or not the user exists) and open a session.

    The password is checked before any transaction opens: on SQLite a write transaction holds
    the database's one write lock, and 20 ms of argon2 inside it would let one login run at a
    time. The session is then written only if the hash checked is still the agent's.
    """
    for _attempt in range(2):
        agent = await reads.first(AGENT_BY_USERNAME, {"username": username})
        stored_hash = agent["password_hash"] if agent is not None else None
        # Oversized passwords are refused only after the same work: length is no oracle either.
        result = await passwords.verify(stored_hash, password[: MAX_PASSWORD_LENGTH + 1])
        if agent is None or not result.ok or len(password) > MAX_PASSWORD_LENGTH:
            raise LoginFailed(agent["customer_id"] if agent is not None else None)
        async with begin() as session:
            opened = await _open_session(
                session,
                keys=keys,
                agent_id=agent["id"],
                checked_hash=agent["password_hash"],
                new_hash=result.new_hash,
                ttl=ttl,
                client_ip=client_ip,
                user_agent=user_agent,
            )
        if opened is not None:
            return opened
        # The stored hash changed while we checked: a new password (the next check fails), or
        # a concurrent login upgraded it to new parameters (the next check passes).
    raise LoginFailed()


async def _open_session(
    session: AsyncSession,
    *,
    keys: KeyRing,
    agent_id: uuid.UUID,
    checked_hash: str,
    new_hash: str | None,
    ttl: int,
    client_ip: str,
    user_agent: str,
) -> LoginResult | None:
    """The new session, or None when the agent's hash is no longer the one that was checked."""
    # Locked: a password change updates this row before it ends the agent's sessions, so it
    # either comes first (and the hash below differs) or waits and then ends this session too.
    agent = await session.scalar(select(Agent).where(Agent.id == agent_id).with_for_update())
    if agent is None or agent.tm_delete is not None:
        raise InvalidCredentials()
    if agent.password_hash != checked_hash:
        return None
    customer = await session.get(Customer, agent.customer_id)
    if (
        customer is None
        or customer.tm_delete is not None
        or customer.status in DEAD_CUSTOMER_STATUSES
    ):
        raise InvalidCredentials()
    if new_hash is not None:
        agent.password_hash = new_hash  # parameters changed since this hash was made
    moment = clock.now()
    login_session = LoginSession(
        agent_id=agent.id,
        customer_id=agent.customer_id,
        client_ip=client_ip[:64],
        user_agent=user_agent[:512],
        tm_create=moment,
        tm_expire=moment + timedelta(seconds=ttl),
    )
    session.add(login_session)
    await session.flush()
    audit.record(
        session,
        "login_succeeded",
        customer_id=agent.customer_id,
        by=audit.Actor("agent", agent.id, agent.username),
        details={"session_id": str(login_session.id)},
    )
    token = keys.issue(
        typ=LOGIN_TOKEN_TYPE,
        subject=str(agent.id),
        ttl=ttl,
        at=moment,
        extra={"sid": str(login_session.id)},
    )
    return LoginResult(agent=agent, session=login_session, token=token)


AGENT_BY_USERNAME = select(Agent.id, Agent.customer_id, Agent.password_hash).where(
    Agent.username == bindparam("username"), Agent.tm_delete.is_(None)
)


async def logout(session: AsyncSession, *, by: Identity) -> None:
    """End the caller's own login session; its token stops working at once."""
    login_session = await session.get(LoginSession, by.session_id)
    if login_session is not None and login_session.tm_revoke is None:
        login_session.tm_revoke = clock.now()
        mark_identity_changed(session)
        audit.record(
            session,
            "logout",
            customer_id=by.customer_id,
            by=by,
            details={"session_id": str(login_session.id)},
        )
        await session.flush()
