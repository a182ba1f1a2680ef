"""Customers: the tenants that own everything else."""

from __future__ import annotations

import secrets
import uuid
from typing import Any

from sqlalchemy import bindparam, select
from sqlalchemy import update as sql_update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from vbauth import clock
from vbauth.db import columns_of, mark_identity_changed
from vbauth.identity import Identity
from vbauth.models import Agent, Customer, LoginSession
from vbauth.permissions import ADMIN_OR_MANAGER, Permission
from vbauth.reads import HotReads, Row
from vbauth.security.passwords import Passwords
from vbauth.services import agents, audit, events, verification
from vbauth.services.changes import apply_changes
from vbauth.services.delegation import refuse_delegate
from vbauth.services.errors import (
    AlreadyExists,
    InvalidArgument,
    NotFound,
    PermissionDenied,
    StateInvalid,
)
from vbauth.services.pages import Page, paged
from vbauth.services.validation import (
    is_valid_email,
    normalize_email,
    require_verified_signup,
)

EDITABLE_FIELDS = (
    "name",
    "detail",
    "phone_number",
    "address",
    "webhook_method",
    "webhook_uri",
)
FIRST_ADMIN_NAME = "default admin"


def require_superadmin(by: Identity | None) -> None:
    """``None`` is the local operator (the CLI), who holds the database anyway."""
    if by is not None and not by.is_superadmin:
        raise PermissionDenied()


async def create(
    session: AsyncSession,
    *,
    by: Identity | None,
    passwords: Passwords,
    email: str,
    status: str = "active",
    admin_password: str | None = None,
    **fields: str,
) -> tuple[Customer, Agent]:
    """A customer and its first admin agent (username = email), in one transaction."""
    require_superadmin(by)
    email = normalize_email(email)
    if not is_valid_email(email):
        raise InvalidArgument("The email address is invalid.")
    customer = Customer(email=email, status=status, webhook_secret=secrets.token_hex(32), **fields)
    session.add(customer)
    try:
        await session.flush()
    except IntegrityError as error:
        raise AlreadyExists("A customer with this email already exists.") from error
    events.announce(session, "created", customer)
    admin = await agents.insert(
        session,
        passwords=passwords,
        customer_id=customer.id,
        username=email,
        password=admin_password,
        name=FIRST_ADMIN_NAME,
        permission=Permission.CUSTOMER_ADMIN,
    )
    audit.record(
        session,
        "agent_created",
        customer_id=customer.id,
        by=by,
        details={"agent_id": str(admin.id), "username": admin.username, "first_admin": True},
    )
    return customer, admin


async def get(session: AsyncSession, *, by: Identity | None, customer_id: uuid.UUID) -> Customer:
    require_superadmin(by)
    customer = await session.get(Customer, customer_id)
    if customer is None or customer.tm_delete is not None:
        raise NotFound(reason="CUSTOMER_NOT_FOUND")
    return customer


async def read_own(reads: HotReads, *, by: Identity) -> Row:
    """The caller's own customer; admins and managers only (reference §1.11).

    Read the cheap way: ``GET /v1.0/customer`` is a hot path for accesskey scripts.
    """
    if not by.can_access(by.customer_id, ADMIN_OR_MANAGER):
        raise PermissionDenied()
    row = await reads.first(CUSTOMER_BY_ID, {"customer_id": by.customer_id})
    if row is None:
        raise NotFound(reason="CUSTOMER_NOT_FOUND")
    return row


CUSTOMER_BY_ID = select(*columns_of(Customer)).where(Customer.id == bindparam("customer_id"))


async def list_page(session: AsyncSession, *, by: Identity, page: Page) -> list[Customer]:
    require_superadmin(by)
    query = paged(select(Customer).where(Customer.tm_delete.is_(None)), Customer, page)
    return list((await session.scalars(query)).all())


async def update(
    session: AsyncSession, *, customer: Customer, changes: dict[str, Any], public_url: str
) -> Customer:
    """Apply the given fields; fields left out stay as they were.

    A new email address does not replace the current one yet: it waits in ``pending_email``
    until its owner follows the link mailed to it, so nobody can claim an address they do not
    hold (nor squat on it: only verified addresses are taken).
    """
    requested = changes.pop("email", None)
    apply_changes(customer, changes, EDITABLE_FIELDS)
    if requested is not None:
        await _request_email(session, customer, normalize_email(requested), public_url)
    await session.flush()
    events.announce(session, "updated", customer)
    return customer


async def _request_email(
    session: AsyncSession, customer: Customer, address: str, public_url: str
) -> None:
    if not is_valid_email(address):
        raise InvalidArgument("The email address is invalid.")
    if address == customer.email:
        customer.pending_email = ""  # asking for the current address cancels a pending change
        return
    if customer.status == "initial":
        raise InvalidArgument("Verify the signup email address before changing it.")
    customer.pending_email = address  # asking again sends a fresh link
    await verification.mail_link(
        session,
        customer=customer,
        address=address,
        agent_id=None,
        public_url=public_url,
        intro="Confirm the new email address of your account:",
    )


async def own_public(session: AsyncSession, *, by: Identity) -> Customer:
    """The caller's own customer, for any of its agents (the public form hides the secret)."""
    customer = await session.get(Customer, by.customer_id)
    if customer is None or customer.tm_delete is not None:
        raise NotFound(reason="CUSTOMER_NOT_FOUND")
    return customer


async def update_own(
    session: AsyncSession, *, by: Identity, changes: dict[str, Any], public_url: str
) -> Customer:
    if not by.can_access(by.customer_id, Permission.CUSTOMER_ADMIN):
        raise PermissionDenied()
    if changes.keys() & {"email", "webhook_method", "webhook_uri"}:
        require_verified_signup(by)  # where the account's mail and events would go
        refuse_delegate(by, "change where the account's mail and events go")
    customer = await session.get(Customer, by.customer_id)
    if customer is None:
        raise NotFound(reason="CUSTOMER_NOT_FOUND")
    return await update(session, customer=customer, changes=changes, public_url=public_url)


async def delete(session: AsyncSession, *, by: Identity, customer_id: uuid.UUID) -> Customer:
    """Soft-delete a customer; its agents go with it and every credential of theirs dies now."""
    customer = await get(session, by=by, customer_id=customer_id)
    if customer.id == by.customer_id:
        raise InvalidArgument("You cannot delete your own customer.")
    if customer.is_platform:  # its superadmins would go with it
        raise StateInvalid("The platform's own customer cannot be deleted.", reason="PLATFORM")
    moment = clock.now()
    customer.status, customer.tm_delete, customer.tm_update = "deleted", moment, moment
    await session.execute(
        sql_update(Agent)
        .where(Agent.customer_id == customer.id, Agent.tm_delete.is_(None))
        .values(tm_delete=moment, tm_update=moment)
    )
    await session.execute(
        sql_update(LoginSession)
        .where(LoginSession.customer_id == customer.id, LoginSession.tm_revoke.is_(None))
        .values(tm_revoke=moment)
    )
    mark_identity_changed(session)
    audit.record(session, "customer_deleted", customer_id=customer.id, by=by)
    await session.flush()
    events.announce(session, "deleted", customer)
    return customer
