"""Mail goes through the outbox: written with the change that caused it, sent after commit."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from vbauth.models import OutboxMessage


def enqueue(
    session: AsyncSession, *, purpose: str, recipient: str, subject: str, body: str
) -> OutboxMessage:
    """Queue a message in this transaction; if the transaction rolls back, no mail is sent."""
    message = OutboxMessage(purpose=purpose, recipient=recipient, subject=subject, body=body)
    session.add(message)
    session.info["mail_enqueued"] = True  # Runtime.transaction wakes the deliverer on commit
    return message


async def recent(session: AsyncSession, *, limit: int) -> list[OutboxMessage]:
    query = select(OutboxMessage).order_by(OutboxMessage.tm_create.desc()).limit(limit)
    return list((await session.scalars(query)).all())
