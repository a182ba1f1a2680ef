"""Single-use tokens sent by mail: issued with a purpose, consumed exactly once."""

from __future__ import annotations

import uuid
from datetime import timedelta

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from vbauth import clock
from vbauth.models import Agent, OneTimeToken
from vbauth.security.one_time import hash_one_time_token, new_one_time_token
from vbauth.services.errors import InvalidArgument

EMAIL_VERIFY = "email_verify"
PASSWORD_RESET = "password_reset"
LIFETIME = timedelta(hours=1)


async def issue(
    session: AsyncSession,
    *,
    purpose: str,
    customer_id: uuid.UUID,
    agent_id: uuid.UUID | None = None,
    email: str = "",
) -> str:
    """A new token for ``purpose`` (and, for verification, the address); only its hash is kept."""
    token = new_one_time_token()
    moment = clock.now()
    session.add(
        OneTimeToken(
            purpose=purpose,
            token_hash=hash_one_time_token(token),
            customer_id=customer_id,
            agent_id=agent_id,
            email=email,
            tm_create=moment,
            tm_expire=moment + LIFETIME,
        )
    )
    await session.flush()
    return token


def _refused() -> InvalidArgument:
    return InvalidArgument("The link is invalid, expired or already used.", reason="INVALID_TOKEN")


async def peek(session: AsyncSession, *, purpose: str, token: str) -> OneTimeToken:
    """A live token of ``purpose``, left unused; failing as ``consume`` fails."""
    if len(token) > 128:
        raise _refused()
    digest = hash_one_time_token(token)
    found = (
        await session.scalars(
            select(OneTimeToken).where(
                OneTimeToken.token_hash == digest, OneTimeToken.purpose == purpose
            )
        )
    ).first()
    if found is None or found.tm_used is not None or found.tm_expire <= clock.now():
        raise _refused()
    return found


async def consume(session: AsyncSession, *, purpose: str, token: str) -> OneTimeToken:
    """Use up a live token of ``purpose``, or fail the same way whatever was wrong with it.

    The conditional update is the single-use guarantee: of two requests racing with the same
    token, only one changes the row.
    """
    found = await peek(session, purpose=purpose, token=token)
    moment = clock.now()
    if found.agent_id is not None:
        # Lock order agent, then tokens (as a password change has it): two reset links of one
        # agent used at once then queue instead of deadlocking on each other's token.
        await session.execute(select(Agent.id).where(Agent.id == found.agent_id).with_for_update())
    used = await session.execute(
        update(OneTimeToken)
        .where(OneTimeToken.id == found.id, OneTimeToken.tm_used.is_(None))
        .values(tm_used=moment)
    )
    if used.rowcount != 1:  # type: ignore[attr-defined]
        raise _refused()
    return found


async def use_up(session: AsyncSession, *, agent_id: uuid.UUID, purpose: str) -> None:
    """Every unused ``purpose`` token of the agent dies (a new password ends old reset links)."""
    await session.execute(
        update(OneTimeToken)
        .where(
            OneTimeToken.agent_id == agent_id,
            OneTimeToken.purpose == purpose,
            OneTimeToken.tm_used.is_(None),
        )
        .values(tm_used=clock.now())
    )
