"""Login sessions as their agents see them: listed, and ended one by one or all at once."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from vbauth import clock
from vbauth.db import set_each
from vbauth.identity import Identity
from vbauth.models import LoginSession
from vbauth.services import agents, audit
from vbauth.services.errors import NotFound
from vbauth.services.pages import Page, paged


async def list_page(
    session: AsyncSession, *, by: Identity, agent_id: uuid.UUID, page: Page
) -> list[LoginSession]:
    """The agent's live sessions, newest first: its own for anyone, others' for its managers."""
    await _visible_agent(session, by, agent_id)
    query = select(LoginSession).where(
        LoginSession.agent_id == agent_id,
        LoginSession.tm_revoke.is_(None),
        LoginSession.tm_expire > clock.now(),
    )
    return list((await session.scalars(paged(query, LoginSession, page))).all())


async def end(
    session: AsyncSession, *, by: Identity, agent_id: uuid.UUID, session_id: uuid.UUID
) -> LoginSession:
    """End one session of the agent; its token gets 401 from its next request, everywhere."""
    await _visible_agent(session, by, agent_id)
    found = await session.get(LoginSession, session_id)
    if found is None or found.agent_id != agent_id or found.tm_revoke is not None:
        raise NotFound(reason="SESSION_NOT_FOUND")
    await agents.revoke_sessions(session, agent_id=agent_id, only=session_id)
    _audit(session, by, found.customer_id, agent_id, [session_id])
    return found


async def end_all(
    session: AsyncSession, *, by: Identity, agent_id: uuid.UUID, keep: uuid.UUID | None
) -> int:
    """End every session of the agent but ``keep`` (the caller's own, for "log out others")."""
    await _visible_agent(session, by, agent_id)
    query = select(LoginSession.id, LoginSession.customer_id).where(
        LoginSession.agent_id == agent_id,
        LoginSession.tm_revoke.is_(None),
        LoginSession.tm_expire > clock.now(),  # what the list shows: expired ones end anyway
    )
    rows = [row for row in (await session.execute(query)).all() if row.id != keep]
    if rows:
        await agents.revoke_sessions(session, agent_id=agent_id, except_session=keep)
        _audit(session, by, rows[0].customer_id, agent_id, [row.id for row in rows])
    return len(rows)


async def record_last_seen(session: AsyncSession, seen: dict[uuid.UUID, datetime]) -> None:
    """Write a batch of last-seen times at once."""
    await set_each(session, LoginSession, "tm_last_seen", seen)


async def _visible_agent(session: AsyncSession, by: Identity, agent_id: uuid.UUID) -> None:
    """One's own sessions, or those of an agent one manages (``agents``' rule, 404 else)."""
    if agent_id != by.agent_id:
        await agents.load_manageable(session, by, agent_id)


def _audit(
    session: AsyncSession,
    by: Identity,
    customer_id: uuid.UUID,
    agent_id: uuid.UUID,
    ended: list[uuid.UUID],
) -> None:
    audit.record(
        session,
        "session_revoked",
        customer_id=customer_id,
        by=by,
        details={"agent_id": str(agent_id), "session_ids": [str(sid) for sid in ended]},
    )
