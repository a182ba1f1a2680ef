"""What an operator does from the shell (``vbauth bootstrap``), outside any tenant's rights."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from vbauth import clock
from vbauth.db import mark_identity_changed
from vbauth.models import Agent, Customer
from vbauth.permissions import Permission
from vbauth.security.passwords import Passwords, password_problem
from vbauth.services import agents, audit, customers
from vbauth.services.errors import AlreadyExists, InvalidArgument
from vbauth.services.validation import normalize_username

SUPERADMIN_BITS = int(Permission.PROJECT_SUPER_ADMIN | Permission.CUSTOMER_ADMIN)
PLATFORM_CUSTOMER_NAME = "platform"


async def bootstrap_superadmin(
    session: AsyncSession, *, passwords: Passwords, username: str, password: str
) -> tuple[Agent, bool]:
    """Create the platform superadmin, or reset an existing superadmin's password (and give a
    platform agent that lost it its superadmin bit back).

    Returns the agent and whether it was created. Re-running is the break-glass path.
    """
    if problem := password_problem(password):
        raise InvalidArgument(problem)
    username = normalize_username(username)
    existing = (
        await session.scalars(
            select(Agent).where(Agent.username == username, Agent.tm_delete.is_(None))
        )
    ).first()
    if existing is not None and not existing.permission & Permission.PROJECT_SUPER_ADMIN:
        owner = await session.get(Customer, existing.customer_id)
        if owner is None or not owner.is_platform:
            # Promoting a customer's agent would hand the platform to whoever signed up first.
            raise AlreadyExists(
                "This username belongs to an agent of a customer; choose another for the "
                "superadmin.",
                reason="AGENT_USERNAME_TAKEN",
            )
        existing.permission |= SUPERADMIN_BITS  # a platform agent that lost the bit: restored
    if existing is not None:
        existing.password_hash = await passwords.hash(password)
        existing.tm_update = clock.now()
        await agents.revoke_sessions(session, agent_id=existing.id)
        await agents.end_delegations(session, agent_id=existing.id)
        audit.record(
            session,
            "password_reset",
            customer_id=existing.customer_id,
            details={"agent_id": str(existing.id), "via": "vbauth bootstrap"},
        )
        mark_identity_changed(session)
        await session.flush()
        return existing, False
    _customer, agent = await customers.create(
        session,
        by=None,
        passwords=passwords,
        email=username,
        admin_password=password,
        name=PLATFORM_CUSTOMER_NAME,
    )
    agent.permission = SUPERADMIN_BITS
    platform = await session.get(Customer, agent.customer_id)
    if platform is not None:
        platform.is_platform = True
    await session.flush()
    return agent, True
