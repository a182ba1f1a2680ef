"""Events of vbauth's own resources, queued in the transaction and published after commit."""

from __future__ import annotations

import uuid

from pydantic import BaseModel
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from vbauth.events.model import Event
from vbauth.models import AccessKey, Agent, Binding, Customer, Direct
from vbauth.schemas import AccesskeyOut, AgentOut, CustomerOut, DirectOut

# vbauth's own resources: their kind on the wire, the public form subscribers receive, and the
# fields left out of it (a direct hash is a bearer secret: events travel further than REST).
PUBLIC_FORMS: dict[type, tuple[str, type[BaseModel], set[str]]] = {
    AccessKey: ("accesskey", AccesskeyOut, set()),
    Agent: ("agent", AgentOut, set()),
    Customer: ("customer", CustomerOut, set()),
    Direct: ("direct", DirectOut, {"hash"}),
}


def record(session: AsyncSession, event: Event) -> None:
    """Publish ``event`` once this transaction commits (never for a rolled-back change)."""
    session.info.setdefault("events", []).append(event)


def announce(session: AsyncSession, verb: str, item: AccessKey | Agent | Customer | Direct) -> None:
    """``<kind>_<verb>`` (``accesskey_created``) on ``customer_id:<c>:<kind>:<id>``.

    Agents' events also go to ``agent_id:<agent>:agent:<agent>``, so an agent can watch itself.
    The payload is the public form the REST API returns, less anything secret.
    """
    kind, public_form, withheld = PUBLIC_FORMS[type(item)]
    customer_id = item.id if isinstance(item, Customer) else item.customer_id
    record(
        session,
        Event(
            type=f"{kind}_{verb}",
            customer_id=customer_id,
            resource_type=kind,
            resource_id=str(item.id),
            data=public_form.model_validate(item).model_dump(mode="json", exclude=withheld),
            owner_agent_id=item.id if isinstance(item, Agent) else None,
        ),
    )


async def remember_binding(session: AsyncSession, event: Event) -> None:
    """Note which resource the event's object belongs to (the first binding stays)."""
    if event.bound_to is None:
        return
    if await session.get(Binding, (event.resource_type, event.resource_id)) is not None:
        return
    try:
        async with session.begin_nested():
            session.add(
                Binding(
                    resource_type=event.resource_type,
                    object_id=event.resource_id,
                    customer_id=event.customer_id,
                    bound_to=event.bound_to,
                )
            )
    except IntegrityError:
        pass  # another instance recorded it first: the same binding


async def bound_to(
    session: AsyncSession, *, customer_id: uuid.UUID, resource_type: str, object_id: str
) -> uuid.UUID | None:
    """The resource an object of ``customer_id`` is bound to, if an event said so."""
    query = select(Binding.bound_to).where(
        Binding.resource_type == resource_type,
        Binding.object_id == object_id,
        Binding.customer_id == customer_id,
    )
    return await session.scalar(query)
