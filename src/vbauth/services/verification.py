"""Email verification links: each bound to the address it was sent to."""

from __future__ import annotations

import uuid

from sqlalchemy.ext.asyncio import AsyncSession

from vbauth.models import Customer
from vbauth.services import mail, one_time

SUBJECT = "Verify your email address"


async def mail_link(
    session: AsyncSession,
    *,
    customer: Customer,
    address: str,
    agent_id: uuid.UUID | None,
    public_url: str,
    intro: str,
) -> None:
    """Send ``address`` a one-hour link; it verifies that address for the customer, no other."""
    if not await mail.may_send(session, purpose="email_verify", recipient=address):
        return
    token = await one_time.issue(
        session,
        purpose=one_time.EMAIL_VERIFY,
        customer_id=customer.id,
        agent_id=agent_id,
        email=address,
    )
    mail.enqueue(
        session,
        purpose="email_verify",
        recipient=address,
        subject=SUBJECT,
        body=(
            f"{intro}\n\n{public_url}/auth/email-verify?token={token}\n\n"
            "If this was not you, ignore this message."
        ),
    )
