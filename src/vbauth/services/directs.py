"""Direct hashes: public links that boot short tokens scoped to one resource (reference §6)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from sqlalchemy import Select, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from vbauth import clock
from vbauth.authn import DIRECT_TOKEN_TYPE
from vbauth.db import mark_identity_changed
from vbauth.identity import Identity
from vbauth.models import DIRECT_RESOURCE_TYPES, Agent, Customer, Direct
from vbauth.permissions import ADMIN_OR_MANAGER
from vbauth.security.keys import DIRECT_PREFIX, new_direct_hash
from vbauth.security.tokens import IssuedToken, KeyRing
from vbauth.services import audit, events
from vbauth.services.changes import revoke
from vbauth.services.delegation import refuse_delegate
from vbauth.services.errors import AlreadyExists, InvalidArgument, NotFound, PermissionDenied
from vbauth.services.pages import Page, paged

RESOURCE_TYPES = frozenset(DIRECT_RESOURCE_TYPES)
MAX_HASH_LENGTH = 128


@dataclass(frozen=True, slots=True)
class Booted:
    direct: Direct
    token: IssuedToken
    allowed_resource_types: list[str]


def _require_manager(by: Identity) -> None:
    if not by.can_access(by.customer_id, ADMIN_OR_MANAGER):
        raise PermissionDenied()


async def create(
    session: AsyncSession, *, by: Identity, resource_type: str, resource_id: uuid.UUID
) -> Direct:
    """One hash per resource: a second one for the same resource is a conflict."""
    _require_manager(by)
    refuse_delegate(by, "make direct hashes")  # a hash outlasts the delegation
    if resource_type not in RESOURCE_TYPES:
        raise InvalidArgument(f"resource_type must be one of {', '.join(sorted(RESOURCE_TYPES))}.")
    if resource_id.int == 0:
        raise InvalidArgument("resource_id must be a non-nil UUID.")
    if resource_type == "agent":
        # Agents are vbauth's own: the hash is for a live agent of the caller's customer.
        await _require_live_agent(session, customer_id=by.customer_id, agent_id=resource_id)
    return await _insert(
        session,
        by=by,
        customer_id=by.customer_id,
        resource_type=resource_type,
        resource_id=resource_id,
    )


async def renew_agent_hash(session: AsyncSession, *, by: Identity, agent: Agent) -> Direct:
    """``POST /v1.0/agents/{id}/direct-hash-regenerate``: the agent's hash replaced, or made
    when it has none (VoIPBIN's rule). The caller's right to manage the agent is checked by
    whoever loaded it."""
    refuse_delegate(by, "make direct hashes")
    direct = await session.scalar(_agent_hash(agent).with_for_update())
    if direct is None:
        return await _insert(
            session,
            by=by,
            customer_id=agent.customer_id,
            resource_type="agent",
            resource_id=agent.id,
        )
    return await _rehash(session, direct, by=by)


async def revoke_agent_hash(session: AsyncSession, *, agent: Agent) -> bool:
    """Whether the agent had a live hash (now revoked)."""
    direct = await session.scalar(_agent_hash(agent).with_for_update())
    if direct is None:
        return False
    await revoke(session, direct)
    return True


def _agent_hash(agent: Agent) -> Select[Direct]:
    return select(Direct).where(
        Direct.customer_id == agent.customer_id,
        Direct.resource_type == "agent",
        Direct.resource_id == agent.id,
        Direct.tm_delete.is_(None),
    )


async def _require_live_agent(
    session: AsyncSession, *, customer_id: uuid.UUID, agent_id: uuid.UUID
) -> None:
    agent = await session.get(Agent, agent_id)
    if agent is None or agent.tm_delete is not None or agent.customer_id != customer_id:
        raise NotFound("No such agent in this customer.", reason="AGENT_NOT_FOUND")


async def _insert(
    session: AsyncSession,
    *,
    by: Identity,
    customer_id: uuid.UUID,
    resource_type: str,
    resource_id: uuid.UUID,
) -> Direct:
    direct = Direct(
        customer_id=customer_id,
        resource_type=resource_type,
        resource_id=resource_id,
        hash=new_direct_hash(),
    )
    session.add(direct)
    try:
        async with session.begin_nested():
            await session.flush()
    except IntegrityError as error:
        raise AlreadyExists(
            "This resource already has a direct hash.", reason="DIRECT_ALREADY_EXISTS"
        ) from error
    _audit(session, "direct_created", direct, by)
    events.announce(session, "created", direct)
    return direct


async def get(session: AsyncSession, *, by: Identity, direct_id: uuid.UUID) -> Direct:
    """A live hash of the caller's customer; another customer's is simply not found."""
    _require_manager(by)
    direct = await session.get(Direct, direct_id)
    if direct is None or direct.tm_delete is not None or direct.customer_id != by.customer_id:
        raise NotFound(reason="DIRECT_NOT_FOUND")
    return direct


async def list_page(
    session: AsyncSession,
    *,
    by: Identity,
    page: Page,
    resource_type: str | None = None,
    resource_id: uuid.UUID | None = None,
) -> list[Direct]:
    _require_manager(by)
    query = select(Direct).where(Direct.customer_id == by.customer_id, Direct.tm_delete.is_(None))
    if resource_type is not None:
        query = query.where(Direct.resource_type == resource_type)
    if resource_id is not None:
        query = query.where(Direct.resource_id == resource_id)
    return list((await session.scalars(paged(query, Direct, page))).all())


async def regenerate(session: AsyncSession, *, by: Identity, direct_id: uuid.UUID) -> Direct:
    """A new hash for the same resource; every token booted from the old one dies."""
    direct = await get(session, by=by, direct_id=direct_id)
    refuse_delegate(by, "make direct hashes")
    return await _rehash(session, direct, by=by)


async def _rehash(session: AsyncSession, direct: Direct, *, by: Identity) -> Direct:
    direct.hash = new_direct_hash()
    direct.generation += 1
    direct.tm_update = clock.now()
    mark_identity_changed(session)
    _audit(session, "direct_regenerated", direct, by)
    await session.flush()
    events.announce(session, "updated", direct)
    return direct


async def delete(session: AsyncSession, *, by: Identity, direct_id: uuid.UUID) -> Direct:
    direct = await get(session, by=by, direct_id=direct_id)
    await revoke(session, direct)
    _audit(session, "direct_deleted", direct, by)
    return direct


def _audit(session: AsyncSession, type: str, direct: Direct, by: Identity) -> None:
    """The hash's id and resource, never the hash (it boots tokens)."""
    details = {
        "direct_id": str(direct.id),
        "resource_type": direct.resource_type,
        "resource_id": str(direct.resource_id),
    }
    audit.record(session, type, customer_id=direct.customer_id, by=by, details=details)


class BootRefused(InvalidArgument):
    """A hash that boots nothing; ``customer_id`` when the hash was found (for the audit)."""

    def __init__(self, message: str, *, customer_id: uuid.UUID | None = None) -> None:
        super().__init__(message)
        self.customer_id = customer_id


async def boot(
    session: AsyncSession,
    *,
    keys: KeyRing,
    ttl: int,
    scopes: dict[str, list[str]],
    direct_hash: str,
) -> Booted:
    """Turn a hash into a direct token, checking in the reference's order (§1.6)."""
    if not direct_hash.startswith(DIRECT_PREFIX) or len(direct_hash) > MAX_HASH_LENGTH:
        raise BootRefused('The direct_hash must start with "direct.".')
    row = (
        await session.execute(
            select(Direct, Customer)
            .join(Customer, Customer.id == Direct.customer_id)
            .where(Direct.hash == direct_hash, Direct.tm_delete.is_(None))
        )
    ).first()
    if row is None:
        raise BootRefused("The direct hash does not resolve to any resource.")
    direct, customer = row
    if customer.status != "active" or customer.tm_delete is not None:
        raise BootRefused(
            "The customer of this direct hash is not active.", customer_id=customer.id
        )
    allowed = scopes.get(direct.resource_type)
    if not allowed:
        raise BootRefused(
            f"A {direct.resource_type} direct hash cannot boot a token.", customer_id=customer.id
        )
    token = keys.issue(
        typ=DIRECT_TOKEN_TYPE,
        subject=str(direct.id),
        ttl=ttl,
        at=clock.now(),
        extra={"gen": direct.generation},
    )
    return Booted(direct=direct, token=token, allowed_resource_types=list(allowed))
