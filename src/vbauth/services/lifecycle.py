"""A customer's end: unregister (freeze, with 30 days to change one's mind), recover, erase.

Statuses (reference §5.5): ``active`` → ``frozen`` (unregistered, or frozen by a superadmin;
every credential then gets 403 ``ACCOUNT_FROZEN`` but for recovery) → ``deleted`` (personal
data erased, every credential ended). ``immediate`` unregistering, and the purge of frozen
customers whose grace has run out, go straight to ``deleted``.
"""

from __future__ import annotations

import uuid
from datetime import timedelta

from sqlalchemy import bindparam, delete, or_, select
from sqlalchemy import update as sql_update
from sqlalchemy.ext.asyncio import AsyncSession

from vbauth import clock
from vbauth.authn import FROZEN_GRACE_DAYS
from vbauth.db import mark_identity_changed
from vbauth.identity import AccesskeyIdentity, AgentIdentity, Identity
from vbauth.limits.throttle import LoginThrottle
from vbauth.models import (
    AccessKey,
    Agent,
    Binding,
    Customer,
    Direct,
    LoginSession,
    OneTimeToken,
    OutboxMessage,
)
from vbauth.permissions import Permission
from vbauth.reads import HotReads
from vbauth.security.passwords import Passwords
from vbauth.services import audit, customers, events
from vbauth.services.delegation import refuse_delegate
from vbauth.services.errors import InvalidArgument, PermissionDenied, StateInvalid

GRACE = timedelta(days=FROZEN_GRACE_DAYS)  # what a frozen caller's 403 says it has
CONFIRMATION_PHRASE = "DELETE"
ERASED_DOMAIN = "removed.voipbin.net"


async def confirm_unregister(
    reads: HotReads,
    *,
    by: Identity,
    passwords: Passwords,
    throttle: LoginThrottle,
    password: str | None,
    confirmation_phrase: str | None,
) -> None:
    """The caller may unregister and says so: its role, then exactly one proof.

    Run before the write transaction opens: the password check is a login's argon2 (on
    SQLite, inside a write transaction it would hold every writer), and it counts against
    the login throttle like a login does, so it is no side door for guessing.
    """
    _require_own_admin(by)  # a manager is refused whatever it sends
    if bool(password) == bool(confirmation_phrase):
        raise InvalidArgument(
            "Send exactly one of password and confirmation_phrase.", reason="INVALID_CONFIRMATION"
        )
    if confirmation_phrase is not None and confirmation_phrase != CONFIRMATION_PHRASE:
        raise InvalidArgument(
            f'The confirmation_phrase must be "{CONFIRMATION_PHRASE}".',
            reason="INVALID_CONFIRMATION",
        )
    if password:
        if not isinstance(by, AgentIdentity):  # an accesskey has no password: the phrase
            await passwords.verify(None, password)  # the same work as a wrong one
            raise InvalidArgument(
                'An accesskey has no password: send confirmation_phrase "DELETE".',
                reason="INVALID_CONFIRMATION",
            )
        await throttle.attempt(by.username)
        row = await reads.first(PASSWORD_OF, {"agent_id": by.agent_id})
        stored = row["password_hash"] if row is not None else None
        if not (await passwords.verify(stored, password)).ok:
            raise InvalidArgument("The password is not right.", reason="INVALID_CONFIRMATION")
        await throttle.succeeded(by.username)


PASSWORD_OF = select(Agent.password_hash).where(Agent.id == bindparam("agent_id"))


async def unregister(session: AsyncSession, *, by: Identity, immediate: bool) -> Customer:
    """The caller's own customer, frozen (or, ``immediate``, erased), once confirmed."""
    customer = await _own_customer(session, by)
    await freeze(session, customer=customer, by=by)
    if immediate:
        await erase(session, customer=customer, by=by, why="unregistered at once")
    return customer


async def undo_unregister(session: AsyncSession, *, by: Identity) -> Customer:
    """Recover the caller's own frozen customer (``DELETE /auth/unregister``): only from its
    own unregistering; a freeze the platform imposed is the platform's to lift."""
    _require_own_admin(by)
    customer = await _own_customer(session, by)
    await recover(session, customer=customer, by=by)
    return customer


async def freeze_customer(
    session: AsyncSession, *, by: Identity, customer_id: uuid.UUID
) -> Customer:
    """A superadmin freezes a customer (``POST /v1.0/customers/{id}/freeze``)."""
    customer = await customers.get(session, by=by, customer_id=customer_id)
    await freeze(session, customer=customer, by=by)
    return customer


async def recover_customer(
    session: AsyncSession, *, by: Identity, customer_id: uuid.UUID
) -> Customer:
    customer = await customers.get(session, by=by, customer_id=customer_id)
    await recover(session, customer=customer, by=by)
    return customer


async def freeze(session: AsyncSession, *, customer: Customer, by: Identity | None) -> None:
    """``active`` → ``frozen``, deletion scheduled now. Freezing a frozen customer changes
    nothing, except that the platform's freeze takes over the owner's (a review found a
    customer could freeze itself first, then lift the platform's freeze as its own)."""
    by_platform = by is None or by.is_superadmin or by.customer_id != customer.id
    if customer.status == "frozen":
        if by_platform and customer.frozen_by != "platform":
            customer.frozen_by = "platform"
            customer.tm_update = clock.now()
            audit.record(
                session,
                "customer_frozen",
                customer_id=customer.id,
                by=by,
                details={"taken_over_from": "owner"},
            )
        return
    if customer.is_platform:
        raise StateInvalid("The platform's own customer cannot be frozen.", reason="PLATFORM")
    if customer.status != "active":
        raise InvalidArgument(
            f"Only an active customer can be frozen; this one is {customer.status}.",
            reason="CUSTOMER_NOT_ACTIVE",
        )
    moment = clock.now()
    customer.status, customer.tm_deletion_scheduled, customer.tm_update = "frozen", moment, moment
    customer.frozen_by = "platform" if by_platform else "owner"
    mark_identity_changed(session)
    audit.record(
        session,
        "customer_frozen",
        customer_id=customer.id,
        by=by,
        details={"deletion_effective_at": clock.format_timestamp(moment + GRACE)},
    )
    await session.flush()
    events.announce(session, "updated", customer)


async def recover(session: AsyncSession, *, customer: Customer, by: Identity | None) -> None:
    if customer.status != "frozen":
        raise InvalidArgument("Only a frozen customer can be recovered.", reason="NOT_FROZEN")
    customer.status, customer.tm_deletion_scheduled, customer.frozen_by = "active", None, ""
    customer.tm_update = clock.now()
    mark_identity_changed(session)
    audit.record(session, "customer_recovered", customer_id=customer.id, by=by)
    await session.flush()
    events.announce(session, "updated", customer)


async def erase(
    session: AsyncSession, *, customer: Customer, by: Identity | None, why: str
) -> None:
    """Erase the customer's personal data and end every credential it has, for good.

    What stays is what others need to make sense of their own records: the ids, and the audit
    log (pruned by its own retention).
    """
    moment = clock.now()
    short = customer.id.hex[:8]
    agents = list(
        (await session.scalars(select(Agent).where(Agent.customer_id == customer.id))).all()
    )
    addresses = {customer.email, customer.pending_email, *(a.username for a in agents)} - {""}
    for agent in agents:
        agent.username = f"deleted_{agent.id.hex}@{ERASED_DOMAIN}"
        agent.name = agent.detail = agent.password_hash = ""
        agent.addresses = []
        agent.tm_delete = agent.tm_delete or moment
        agent.tm_update = moment
    customer.name, customer.email = f"deleted_user_{short}", f"deleted_{short}@{ERASED_DOMAIN}"
    customer.detail = customer.pending_email = customer.phone_number = customer.address = ""
    customer.webhook_method = customer.webhook_uri = customer.webhook_secret = ""
    customer.terms_agreed_ip = ""
    customer.flags = {}
    customer.status, customer.tm_delete, customer.tm_update = "deleted", moment, moment
    for model in (AccessKey, Direct):
        await session.execute(
            sql_update(model)
            .where(model.customer_id == customer.id, model.tm_delete.is_(None))
            .values(tm_delete=moment)
        )
    # Names people gave their keys, and where and with what they logged in, go too.
    await session.execute(
        sql_update(AccessKey).where(AccessKey.customer_id == customer.id).values(name="", detail="")
    )
    await session.execute(
        sql_update(LoginSession)
        .where(LoginSession.customer_id == customer.id, LoginSession.tm_revoke.is_(None))
        .values(tm_revoke=moment)
    )
    await session.execute(
        sql_update(LoginSession)
        .where(LoginSession.customer_id == customer.id)
        .values(client_ip="", user_agent="")
    )
    await session.execute(delete(OneTimeToken).where(OneTimeToken.customer_id == customer.id))
    await session.execute(delete(Binding).where(Binding.customer_id == customer.id))
    if addresses:
        await session.execute(delete(OutboxMessage).where(OutboxMessage.recipient.in_(addresses)))
    mark_identity_changed(session)
    audit.record(session, "customer_deleted", customer_id=customer.id, by=by, details={"why": why})
    await session.flush()
    events.announce(session, "deleted", customer)


async def due_for_purge(session: AsyncSession) -> list[uuid.UUID]:
    """The customers frozen for longer than the grace period."""
    due = clock.now() - GRACE
    found = await session.scalars(
        select(Customer.id).where(
            Customer.status == "frozen",
            or_(Customer.tm_deletion_scheduled.is_(None), Customer.tm_deletion_scheduled <= due),
        )
    )
    return list(found.all())


async def purge_one(session: AsyncSession, customer_id: uuid.UUID) -> bool:
    """Erase one due customer, locked and checked again: another instance may be at it, or
    the customer recovered since it was found. False when there was nothing to do."""
    customer = await session.scalar(
        select(Customer).where(Customer.id == customer_id).with_for_update(skip_locked=True)
    )
    due = clock.now() - GRACE
    if (
        customer is None
        or customer.status != "frozen"
        or (customer.tm_deletion_scheduled is not None and customer.tm_deletion_scheduled > due)
    ):
        return False
    await erase(session, customer=customer, by=None, why="30 days frozen")
    return True


def _require_own_admin(by: Identity) -> None:
    """Unregistering is for the customer's admins and its accesskeys (reference §1.7)."""
    refuse_delegate(by, "unregister or recover the account")
    allowed = isinstance(by, AccesskeyIdentity) or (
        isinstance(by, AgentIdentity)
        and by.permission & (Permission.CUSTOMER_ADMIN | Permission.PROJECT_SUPER_ADMIN) != 0
    )
    if not allowed or getattr(by, "delegated_by", None) is not None:
        raise PermissionDenied("Only the customer's admins can do this.")


async def _own_customer(session: AsyncSession, by: Identity) -> Customer:
    """The caller's customer, locked, for it to unregister or recover itself."""
    customer = await session.get(Customer, by.customer_id, with_for_update=True)
    if customer is None or customer.tm_delete is not None:
        raise PermissionDenied("This customer no longer exists.")
    if customer.status == "frozen" and customer.frozen_by == "platform":
        # Frozen for the platform's reasons (an investigation, say): not the customer's to
        # end, by recovering or by erasing itself.
        raise PermissionDenied(
            "The platform froze this account; contact support.", reason="FROZEN_BY_PLATFORM"
        )
    return customer
