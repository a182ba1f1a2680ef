"""Mail goes through the outbox: written with the change that caused it, sent after commit."""

from __future__ import annotations

import hashlib
import logging
from datetime import timedelta

from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from vbauth import clock
from vbauth.models import OutboxMessage

log = logging.getLogger("vbauth.mail")

# Mails of one kind (verification, reset, signup notice) to one address in an hour, whoever
# asks and from wherever: past it, the request answers as usual and nothing is sent, so the
# bound neither floods an inbox nor tells anyone that it was reached.
PER_ADDRESS_HOURLY = 3


async def may_send(session: AsyncSession, *, purpose: str, recipient: str) -> bool:
    """Whether another ``purpose`` mail to ``recipient`` stays within the hourly bound.

    Counting then writing is a race between requests sent at once: on PostgreSQL the
    transaction first takes a lock of its own for (recipient, purpose), held until it commits;
    SQLite's writers already run one at a time.
    """
    if session.get_bind().dialect.name == "postgresql":
        key = int.from_bytes(
            hashlib.sha256(f"{purpose}\0{recipient}".encode()).digest()[:8], "big", signed=True
        )
        await session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": key})
    since = clock.now() - timedelta(hours=1)
    sent = await session.scalar(
        select(func.count())
        .select_from(OutboxMessage)
        .where(
            OutboxMessage.recipient == recipient,
            OutboxMessage.purpose == purpose,
            OutboxMessage.tm_create > since,
        )
    )
    if (sent or 0) >= PER_ADDRESS_HOURLY:
        log.info("mail bound reached: a %s mail was not sent", purpose)  # no address: PII
        return False
    return True


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
