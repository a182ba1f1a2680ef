"""Agents: the people of a customer, their permission bits and passwords."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

from sqlalchemy import bindparam, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from vbauth import clock
from vbauth.db import columns_of, mark_identity_changed
from vbauth.identity import AgentIdentity, Identity
from vbauth.models import Agent, Customer, Delegation, LoginSession
from vbauth.permissions import (
    ADMIN_OR_MANAGER,
    MAX_PERMISSION,
    PROJECT_BITS,
    SUPER_ADMIN_BIT,
    Permission,
    is_admin_level,
)
from vbauth.reads import HotReads, Row
from vbauth.security.passwords import Passwords, password_problem
from vbauth.services import audit, directs, events, one_time
from vbauth.services.changes import apply_changes
from vbauth.services.delegation import refuse_delegate
from vbauth.services.errors import (
    AlreadyExists,
    InvalidArgument,
    NotFound,
    PermissionDenied,
    StateInvalid,
)
from vbauth.services.pages import Listing, Page, paged
from vbauth.services.validation import (
    is_valid_email,
    normalize_username,
    require_verified_signup,
)

ADMIN_LEVEL_BITS = int(Permission.CUSTOMER_ADMIN | Permission.PROJECT_SUPER_ADMIN)
EDITABLE_FIELDS = ("name", "detail", "ring_method")


async def insert(
    session: AsyncSession,
    *,
    passwords: Passwords,
    customer_id: uuid.UUID,
    username: str,
    password: str | None,
    permission: int,
    **fields: Any,
) -> Agent:
    """Store a new agent; no authorization here (callers decide who may create whom)."""
    username = normalize_username(username)
    if not is_valid_email(username):
        raise InvalidArgument("The username must be an email address.")
    if not 0 <= permission <= MAX_PERMISSION:
        raise InvalidArgument("The permission is out of range.")
    customer = await session.get(Customer, customer_id)
    if customer is None or customer.tm_delete is not None:
        raise NotFound(reason="CUSTOMER_NOT_FOUND")
    password_hash = ""  # no usable password until one is set
    if password is not None:
        check_password(password)
        password_hash = await passwords.hash(password)
    agent = Agent(
        customer_id=customer_id,
        username=username,
        password_hash=password_hash,
        permission=int(permission),
        direct_hash="",  # a new agent has none (read, not stored: see the model)
        **fields,
    )
    session.add(agent)
    try:
        await session.flush()
    except IntegrityError as error:
        raise AlreadyExists(
            "An agent with this username already exists.", reason="AGENT_USERNAME_TAKEN"
        ) from error
    events.announce(session, "created", agent)
    return agent


async def create(
    session: AsyncSession,
    *,
    by: Identity,
    passwords: Passwords,
    username: str,
    password: str,
    permission: int,
    **fields: Any,
) -> Agent:
    """An agent in the caller's customer, with at most the bits the caller may grant."""
    _require(by, by.customer_id, ADMIN_OR_MANAGER)
    refuse_delegate(by, "create agents")  # an agent with a known password outlasts it
    require_verified_signup(by)
    _require_grantable(by, permission)
    if permission & (ADMIN_OR_MANAGER | PROJECT_BITS):
        require_recent_login(by)  # an admin or manager of one's own making outlasts the token
    agent = await insert(
        session,
        passwords=passwords,
        customer_id=by.customer_id,
        username=username,
        password=password,
        permission=permission,
        **fields,
    )
    audit.record(
        session,
        "agent_created",
        customer_id=agent.customer_id,
        by=by,
        details={"agent_id": str(agent.id), "username": agent.username, "permission": permission},
    )
    return agent


async def get(session: AsyncSession, *, by: Identity, agent_id: uuid.UUID) -> Agent:
    agent = await _load_visible(session, by, agent_id)
    if agent.id != by.agent_id:
        _require(by, agent.customer_id, ADMIN_OR_MANAGER)
    return agent


async def read_own(reads: HotReads, *, by: Identity) -> Row:
    """The caller's own agent row, read the cheap way (``GET /v1.0/me`` is a hot path)."""
    row = await reads.first(AGENT_BY_ID, {"agent_id": by.agent_id})
    if row is None:
        raise NotFound(reason="AGENT_NOT_FOUND")
    return row


# Never the password hash: what is not read cannot be shown.
AGENT_BY_ID = select(*columns_of(Agent, leaving_out=frozenset({"password_hash"}))).where(
    Agent.id == bindparam("agent_id"), Agent.tm_delete.is_(None)
)


async def list_page(
    session: AsyncSession,
    *,
    by: Identity,
    page: Page,
    status: str | None = None,
    tag_ids: list[str] | None = None,
) -> Listing:
    _require(by, by.customer_id, ADMIN_OR_MANAGER)
    query = select(Agent).where(Agent.customer_id == by.customer_id, Agent.tm_delete.is_(None))
    if status is not None:
        query = query.where(Agent.status == status)
    scanned = list((await session.scalars(paged(query, Agent, page))).all())
    agents = scanned
    if tag_ids:
        # Tags live in a JSON list; filtering here keeps one query shape for both databases.
        wanted = set(tag_ids)
        agents = [agent for agent in scanned if wanted & set(agent.tag_ids)]
    return Listing(items=agents, cursor=scanned[-1].tm_create if scanned else None)


async def update_fields(
    session: AsyncSession, *, by: Identity, agent_id: uuid.UUID, changes: dict[str, Any]
) -> Agent:
    """Change name, detail or ring method; fields left out stay as they were."""
    agent = await _load_self_or_manageable(session, by, agent_id)
    apply_changes(agent, changes, EDITABLE_FIELDS)
    await session.flush()
    events.announce(session, "updated", agent)
    return agent


async def update_permission(
    session: AsyncSession, *, by: Identity, agent_id: uuid.UUID, permission: int
) -> Agent:
    agent = await load_manageable(session, by, agent_id)
    _require_grantable(by, permission)
    if permission & (ADMIN_OR_MANAGER | PROJECT_BITS) & ~agent.permission:
        require_recent_login(by)  # new admin or manager rights: see _require_proof
        refuse_delegate(by, "grant admin or manager rights")  # they outlast the delegation
    if agent.permission & SUPER_ADMIN_BIT and not permission & SUPER_ADMIN_BIT:
        await _keep_a_superadmin(session, agent)
        await end_delegations(session, agent_id=agent.id)  # giving the bit back revives none
    if is_admin_level(agent.permission) and not is_admin_level(permission):
        await _keep_an_admin(session, agent)
    audit.record(
        session,
        "permission_changed",
        customer_id=agent.customer_id,
        by=by,
        details={"agent_id": str(agent.id), "from": agent.permission, "to": permission},
    )
    agent.permission, agent.tm_update = permission, clock.now()
    mark_identity_changed(session)
    await session.flush()
    events.announce(session, "updated", agent)
    return agent


async def update_password(
    session: AsyncSession,
    *,
    by: Identity,
    passwords: Passwords,
    agent_id: uuid.UUID,
    password: str,
    current_password: str | None = None,
) -> Agent:
    """Set a password and end the agent's other sessions (a stolen token dies with the old one)."""
    agent = await _load_self_or_manageable(session, by, agent_id)
    refuse_delegate(by, "set passwords")
    require_verified_signup(by)
    check_password(password)
    # One's own password, or one that could then set it (an admin's, a manager's).
    if agent.id == by.agent_id or agent.permission & (ADMIN_OR_MANAGER | SUPER_ADMIN_BIT):
        await _require_proof(session, by, passwords, current_password)
    agent.password_hash = await passwords.hash(password)
    agent.tm_update = clock.now()
    keep = by.session_id if agent.id == by.agent_id else None
    await revoke_sessions(session, agent_id=agent.id, except_session=keep)
    await end_delegations(session, agent_id=agent.id)
    await one_time.use_up(session, agent_id=agent.id, purpose=one_time.PASSWORD_RESET)
    audit.record(
        session,
        "password_changed",
        customer_id=agent.customer_id,
        by=by,
        details={"agent_id": str(agent.id)},
    )
    await session.flush()
    events.announce(session, "updated", agent)
    return agent


FRESH_LOGIN = timedelta(minutes=10)


async def _require_proof(
    session: AsyncSession, by: Identity, passwords: Passwords, current_password: str | None
) -> None:
    """The caller shows it is the agent its token says, not a thief holding the token: its own
    current password, or a login of the last ten minutes ("sudo mode").

    Asked before what would let a stolen token outlast its owner: setting the owner's password
    (or an admin's or manager's, who could then set it), minting an accesskey, or making an
    agent an admin or manager. An accesskey is a standing credential with no session to be
    stale: it passes.
    """
    if not isinstance(by, AgentIdentity):
        return
    if current_password is not None:
        hashed = await session.scalar(select(Agent.password_hash).where(Agent.id == by.agent_id))
        if not (await passwords.verify(hashed, current_password)).ok:
            raise PermissionDenied(
                "The current password is not right.", reason="INVALID_CURRENT_PASSWORD"
            )
        return
    require_recent_login(by)


def require_recent_login(by: Identity) -> None:
    """A login-token caller logged in within the last ten minutes; others pass (see above)."""
    if not isinstance(by, AgentIdentity):
        return
    started = by.session_started
    if started is None or clock.wall_clock() - started > FRESH_LOGIN:
        raise PermissionDenied(
            "Log in again (or send current_password where it is accepted) to do this.",
            reason="FRESH_LOGIN_REQUIRED",
        )


async def delete(session: AsyncSession, *, by: Identity, agent_id: uuid.UUID) -> Agent:
    agent = await load_manageable(session, by, agent_id)
    if agent.permission & SUPER_ADMIN_BIT:
        await _keep_a_superadmin(session, agent)
    if is_admin_level(agent.permission):
        await _keep_an_admin(session, agent)
    agent.tm_delete = agent.tm_update = clock.now()
    await revoke_sessions(session, agent_id=agent.id)
    await end_delegations(session, agent_id=agent.id)
    if await directs.revoke_agent_hash(session, agent=agent):  # it names an agent that is gone
        await session.refresh(agent, ["direct_hash"])
    audit.record(
        session,
        "agent_deleted",
        customer_id=agent.customer_id,
        by=by,
        details={"agent_id": str(agent.id), "username": agent.username},
    )
    await session.flush()
    events.announce(session, "deleted", agent)
    return agent


async def regenerate_direct_hash(
    session: AsyncSession, *, by: Identity, agent_id: uuid.UUID
) -> Agent:
    """A new direct hash for an agent the caller manages (made if it had none)."""
    agent = await load_manageable(session, by, agent_id)
    await directs.renew_agent_hash(session, by=by, agent=agent)
    await session.refresh(agent, ["direct_hash"])
    return agent


async def revoke_sessions(
    session: AsyncSession,
    *,
    agent_id: uuid.UUID,
    except_session: uuid.UUID | None = None,
    only: uuid.UUID | None = None,
) -> None:
    query = update(LoginSession).where(
        LoginSession.agent_id == agent_id, LoginSession.tm_revoke.is_(None)
    )
    if except_session is not None:
        query = query.where(LoginSession.id != except_session)
    if only is not None:
        query = query.where(LoginSession.id == only)
    await session.execute(query.values(tm_revoke=clock.now()))
    mark_identity_changed(session)


async def end_delegations(session: AsyncSession, *, agent_id: uuid.UUID) -> None:
    """End every live delegation a superadmin holds: with a new password, a thief who had the
    old one keeps no customer's door open either."""
    await session.execute(
        update(Delegation)
        .where(Delegation.agent_id == agent_id, Delegation.tm_revoke.is_(None))
        .values(tm_revoke=clock.now())
    )
    mark_identity_changed(session)


async def _keep_an_admin(session: AsyncSession, agent: Agent) -> None:
    """Refuse to remove a customer's last admin-level agent.

    The customer row is locked first (PostgreSQL; SQLite writers are serialised already), so two
    admins cannot demote each other at the same moment and leave the customer with none.
    """
    await session.execute(
        select(Customer.id).where(Customer.id == agent.customer_id).with_for_update()
    )
    others = await session.scalar(
        select(func.count())
        .select_from(Agent)
        .where(
            Agent.customer_id == agent.customer_id,
            Agent.tm_delete.is_(None),
            Agent.id != agent.id,
            Agent.permission.bitwise_and(ADMIN_LEVEL_BITS) != 0,
        )
    )
    if not others:
        raise StateInvalid("A customer must keep at least one admin.", reason="LAST_ADMIN")


async def _keep_a_superadmin(session: AsyncSession, agent: Agent) -> None:
    """Refuse to remove the platform's last superadmin: nobody could then manage customers,
    and only the shell could bring one back.

    Every superadmin row, this one's too, is locked first and in one order (PostgreSQL), so two
    cannot demote each other at once: the second waits, then counts again.
    """
    # Only the platform's own superadmins count: the bit given to some customer's agent (a
    # signup nobody verified, say) may vanish with that customer.
    superadmins = await session.scalars(
        select(Agent.id)
        .join(Customer, Customer.id == Agent.customer_id)
        .where(
            Agent.tm_delete.is_(None),
            Agent.permission.bitwise_and(SUPER_ADMIN_BIT) != 0,
            Customer.is_platform.is_(True),
            Customer.tm_delete.is_(None),
        )
        .order_by(Agent.id)
        .with_for_update(of=Agent)
    )
    if not [other for other in superadmins if other != agent.id]:
        raise StateInvalid(
            "The platform must keep at least one superadmin.", reason="LAST_SUPERADMIN"
        )


async def _load_visible(session: AsyncSession, by: Identity, agent_id: uuid.UUID) -> Agent:
    """A live agent the caller may know exists; another customer's agent is simply not found."""
    agent = await session.get(Agent, agent_id)
    if agent is None or agent.tm_delete is not None:
        raise NotFound(reason="AGENT_NOT_FOUND")
    if agent.customer_id != by.customer_id and not by.is_superadmin:
        raise NotFound(reason="AGENT_NOT_FOUND")
    return agent


async def load_manageable(session: AsyncSession, by: Identity, agent_id: uuid.UUID) -> Agent:
    """An agent the caller may change: admin or manager rights, and authority over its bits.

    A manager cannot touch an admin (nor an admin a superadmin): the target's bits must all be
    ones the caller could grant. Agents may always manage themselves within their rights.
    """
    agent = await _load_visible(session, by, agent_id)
    _require(by, agent.customer_id, ADMIN_OR_MANAGER)
    if agent.id != by.agent_id and agent.permission & ~by.grantable:
        raise PermissionDenied("You may not manage an agent with more rights than you can grant.")
    return agent


async def _load_self_or_manageable(
    session: AsyncSession, by: Identity, agent_id: uuid.UUID
) -> Agent:
    """The caller itself, whatever its bits (its name, its password: VoIPBIN's service agents
    keep their own), or an agent it manages. Never its own permission: see update_permission."""
    if by.agent_id is not None and agent_id == by.agent_id:
        return await _load_visible(session, by, agent_id)
    return await load_manageable(session, by, agent_id)


def _require(by: Identity, customer_id: uuid.UUID, permission: int) -> None:
    if not by.can_access(customer_id, permission):
        raise PermissionDenied()


def _require_grantable(by: Identity, permission: int) -> None:
    if not 0 <= permission <= MAX_PERMISSION:
        raise InvalidArgument("The permission is out of range.")
    if permission & ~by.grantable:
        raise PermissionDenied("You may not grant these permission bits.")


def check_password(password: str) -> None:
    if problem := password_problem(password):
        raise InvalidArgument(problem)
