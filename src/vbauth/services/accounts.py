"""Self-service accounts: signup, email verification, password recovery, unverified expiry."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy import update as sql_update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from vbauth import clock
from vbauth.authn import unverified_signup
from vbauth.db import mark_identity_changed
from vbauth.models import AccessKey, Agent, Customer, LoginSession
from vbauth.security.passwords import Passwords
from vbauth.services import (
    accesskeys,
    agents,
    audit,
    changes,
    customers,
    events,
    mail,
    one_time,
    verification,
)
from vbauth.services.errors import AlreadyExists, InvalidArgument
from vbauth.services.validation import is_valid_email, normalize_email

SIGNUP_KEY_NAME = "default"
SIGNUP_KEY_DETAIL = "Auto-provisioned API key"


@dataclass(frozen=True, slots=True)
class SignupResult:
    customer: Customer
    accesskey: AccessKey
    token: str


async def signup(
    session: AsyncSession,
    *,
    passwords: Passwords,
    public_url: str,
    email: str,
    client_ip: str,
    fields: dict[str, Any],
) -> SignupResult | None:
    """A new unverified customer, its admin (no password yet) and a working accesskey.

    ``None`` when the email is taken: the caller answers exactly as the reference does, and the
    address's owner gets a mail saying so, so nobody learns anything they could not already.
    """
    email = normalize_email(email)
    if not is_valid_email(email):
        raise InvalidArgument("The email address is invalid.")
    recorded = len(session.info.get("events", []))
    try:
        # A savepoint: a lost race on the unique index must not poison the outer transaction.
        async with session.begin_nested():
            customer, admin = await customers.create(
                session,
                by=None,
                passwords=passwords,
                email=email,
                status="initial",
                terms_agreed_version=clock.format_timestamp(clock.now()),
                terms_agreed_ip=client_ip[:64],
                **fields,
            )
    except (AlreadyExists, IntegrityError):
        del session.info.get("events", [])[recorded:]  # announced inside the undone savepoint
        await _mail_signup_attempt(session, email=email, public_url=public_url)
        return None
    key, token = await accesskeys.insert(
        session,
        customer_id=customer.id,
        name=SIGNUP_KEY_NAME,
        detail=SIGNUP_KEY_DETAIL,
        expire=accesskeys.DEFAULT_EXPIRE,
    )
    audit.record(
        session,
        "accesskey_created",
        customer_id=customer.id,
        details={"accesskey_id": str(key.id), "token_prefix": key.token_prefix, "why": "signup"},
    )
    await verification.mail_link(
        session,
        customer=customer,
        address=customer.email,
        agent_id=admin.id,
        public_url=public_url,
        intro="Welcome! Confirm this address within an hour to keep your account:",
    )
    return SignupResult(customer=customer, accesskey=key, token=token)


@dataclass(frozen=True, slots=True)
class SignupDetails:
    """What the person following a signup's verification link is shown before choosing."""

    signed_up: datetime
    from_ip: str
    key_prefixes: list[str]


async def signup_details(session: AsyncSession, *, token: str) -> SignupDetails | None:
    """For a live verification link of an unverified signup: when, from where, which keys.

    Someone else may have signed up with this address; its owner decides, knowing this, whether
    the keys the signup was given live on. None for a link that verifies a new address.
    """
    used = await one_time.peek(session, purpose=one_time.EMAIL_VERIFY, token=token)
    customer = await session.get(Customer, used.customer_id)
    if customer is None or not unverified_signup(customer.status, customer.email_verified):
        return None
    keys = await session.scalars(
        select(AccessKey.token_prefix).where(
            AccessKey.customer_id == customer.id, AccessKey.tm_delete.is_(None)
        )
    )
    return SignupDetails(customer.tm_create, customer.terms_agreed_ip, list(keys))


async def verify_email(
    session: AsyncSession, *, public_url: str, token: str, keep_signup_keys: bool = False
) -> Customer:
    """Verify the address a link was sent to: the signup's, or a pending new one.

    A signup becomes active and its admin gets a link to set a password; the keys the signup
    was given stop unless the person verifying chose to keep them (whoever signed up may not
    have been the address's owner). A pending address replaces the old one now that its owner
    has shown they hold it.
    """
    used = await one_time.consume(session, purpose=one_time.EMAIL_VERIFY, token=token)
    customer = await session.get(Customer, used.customer_id, with_for_update=True)
    refused = InvalidArgument(
        "The link is invalid, expired or already used.", reason="INVALID_TOKEN"
    )
    if customer is None or customer.tm_delete is not None:
        raise refused
    if used.email == customer.pending_email and used.email != customer.email:
        await _adopt_pending_email(session, customer)
    elif used.email != customer.email:
        raise refused  # sent to an address the customer no longer has, or never had
    elif customer.email_verified:
        return customer
    else:
        await _activate(session, customer=customer, agent_id=used.agent_id, public_url=public_url)
        if not keep_signup_keys:
            await _revoke_signup_keys(session, customer)
    customer.tm_update = clock.now()
    mark_identity_changed(session)  # its credentials lose the verification deadline
    await session.flush()
    events.announce(session, "updated", customer)
    return customer


async def _revoke_signup_keys(session: AsyncSession, customer: Customer) -> None:
    """Every live key of a signup being verified is the signup's (it could make no other)."""
    keys = await session.scalars(
        select(AccessKey).where(AccessKey.customer_id == customer.id, AccessKey.tm_delete.is_(None))
    )
    for key in keys:
        await changes.revoke(session, key)
        audit.record(
            session,
            "accesskey_deleted",
            customer_id=customer.id,
            details={"accesskey_id": str(key.id), "why": "signup key not kept at verification"},
        )


async def _adopt_pending_email(session: AsyncSession, customer: Customer) -> None:
    customer.email, customer.pending_email = customer.pending_email, ""
    customer.email_verified = True
    try:
        async with session.begin_nested():
            await session.flush()
    except IntegrityError as error:
        raise AlreadyExists("Another customer has taken this address meanwhile.") from error


async def _activate(
    session: AsyncSession, *, customer: Customer, agent_id: uuid.UUID | None, public_url: str
) -> None:
    customer.email_verified = True
    customer.status = "active" if customer.status == "initial" else customer.status
    admin = await session.get(Agent, agent_id) if agent_id else None
    if admin is not None and admin.tm_delete is None:
        await _mail_password_link(
            session, agent=admin, public_url=public_url, subject="Set your password"
        )


async def forgot_password(session: AsyncSession, *, public_url: str, username: str) -> None:
    """Mail a reset link if a live agent has this username; say nothing either way."""
    query = (
        select(Agent, Customer)
        .join(Customer, Customer.id == Agent.customer_id)
        .where(
            Agent.username == normalize_email(username),
            Agent.tm_delete.is_(None),
            Customer.tm_delete.is_(None),
        )
    )
    row = (await session.execute(query)).first()
    if row is not None and is_valid_email(row.Agent.username):
        await _mail_password_link(
            session, agent=row.Agent, public_url=public_url, subject="Reset your password"
        )


async def reset_password(
    session: AsyncSession, *, passwords: Passwords, token: str, password: str
) -> Agent:
    """Set a new password from a reset link; every session of the agent ends."""
    agents.check_password(password)
    used = await one_time.consume(session, purpose=one_time.PASSWORD_RESET, token=token)
    agent = await session.get(Agent, used.agent_id) if used.agent_id else None
    if agent is None or agent.tm_delete is not None:
        raise InvalidArgument(
            "The link is invalid, expired or already used.", reason="INVALID_TOKEN"
        )
    agent.password_hash = await passwords.hash(password)
    agent.tm_update = clock.now()
    await agents.revoke_sessions(session, agent_id=agent.id)
    await agents.end_delegations(session, agent_id=agent.id)
    await one_time.use_up(session, agent_id=agent.id, purpose=one_time.PASSWORD_RESET)
    audit.record(
        session,
        "password_reset",
        customer_id=agent.customer_id,
        by=audit.Actor("agent", agent.id, agent.username),
        details={"agent_id": str(agent.id), "via": "reset link"},
    )
    await session.flush()
    return agent


async def expire_unverified(session: AsyncSession, *, older_than: timedelta) -> list[uuid.UUID]:
    """Customers still unverified after ``older_than`` become expired, with all they own.

    Their credentials already stop at the deadline (see ``authn``); this frees their email for a
    new signup and tidies their agents, keys and sessions away.
    """
    moment = clock.now()
    query = select(Customer.id).where(
        Customer.status == "initial",
        Customer.email_verified.is_(False),
        Customer.tm_delete.is_(None),
        Customer.tm_create < moment - older_than,
    )
    expired = list((await session.scalars(query)).all())
    if not expired:
        return []
    await session.execute(
        sql_update(Customer)
        .where(Customer.id.in_(expired))
        .values(status="expired", tm_delete=moment, tm_update=moment)
    )
    for model in (Agent, AccessKey):
        await session.execute(
            sql_update(model)
            .where(model.customer_id.in_(expired), model.tm_delete.is_(None))
            .values(tm_delete=moment)
        )
    await session.execute(
        sql_update(LoginSession)
        .where(
            LoginSession.customer_id.in_(expired),
            LoginSession.tm_revoke.is_(None),
        )
        .values(tm_revoke=moment)
    )
    mark_identity_changed(session)
    return expired


async def _mail_password_link(
    session: AsyncSession, *, agent: Agent, public_url: str, subject: str
) -> None:
    """A new link, which ends the agent's older ones: one live reset link per agent."""
    if not await mail.may_send(session, purpose="password_reset", recipient=agent.username):
        return  # the bound: the old link (if any) stays the one that works
    await one_time.use_up(session, agent_id=agent.id, purpose=one_time.PASSWORD_RESET)
    token = await one_time.issue(
        session, purpose=one_time.PASSWORD_RESET, customer_id=agent.customer_id, agent_id=agent.id
    )
    mail.enqueue(
        session,
        purpose="password_reset",
        recipient=agent.username,
        subject=subject,
        body=(
            f"Use this link within an hour to choose a password for {agent.username}:\n\n"
            f"{public_url}/auth/password-reset?token={token}\n\n"
            "If you did not ask for this, ignore this message; nothing changes."
        ),
    )


async def _mail_signup_attempt(session: AsyncSession, *, email: str, public_url: str) -> None:
    if not await mail.may_send(session, purpose="signup_existing", recipient=email):
        return
    mail.enqueue(
        session,
        purpose="signup_existing",
        recipient=email,
        subject="Someone tried to sign up with your address",
        body=(
            "Someone tried to create a new account with this email address, which already "
            f"has one. If it was you, sign in, or reset your password at {public_url}.\n\n"
            "If it was not you, you can ignore this message."
        ),
    )
