"""``/v1.0/service_agents/*``: VoIPBIN's self-service for agents (their own record, password
and customer). Agents only, under the same rules as ``/v1.0/me``; the socket is in ``ws.py``."""

from __future__ import annotations

from fastapi import APIRouter

from vbauth.api.deps import CurrentAgent, RuntimeDep, SessionDep
from vbauth.schemas import AgentOut, AgentUpdate, CustomerOut, PasswordUpdate
from vbauth.services import agents, customers

router = APIRouter(prefix="/v1.0/service_agents", tags=["service agents"])


@router.get("/me")
async def get_service_agent_me(me: CurrentAgent, runtime: RuntimeDep) -> AgentOut:
    """The caller's own agent record."""
    return AgentOut.model_validate(await agents.read_own(runtime.reads, by=me))


@router.put("/me")
async def update_service_agent_me(
    body: AgentUpdate, me: CurrentAgent, session: SessionDep
) -> AgentOut:
    """Change the caller's name, detail or ring method; fields left out stay as they were."""
    changes = body.model_dump(exclude_unset=True, exclude_none=True)
    agent = await agents.update_fields(session, by=me, agent_id=me.agent_id, changes=changes)
    return AgentOut.model_validate(agent)


@router.put("/me/password")
async def update_service_agent_password(
    body: PasswordUpdate, me: CurrentAgent, session: SessionDep, runtime: RuntimeDep
) -> AgentOut:
    """Set the caller's password (a login of the last 10 minutes, or ``current_password``);
    every other session of the caller ends."""
    agent = await agents.update_password(
        session,
        by=me,
        passwords=runtime.passwords,
        agent_id=me.agent_id,
        password=body.password,
        current_password=body.current_password,
    )
    return AgentOut.model_validate(agent)


@router.get("/customer")
async def get_service_agent_customer(me: CurrentAgent, session: SessionDep) -> CustomerOut:
    """The caller's customer, without its webhook secret (that is for admins and managers,
    at ``GET /v1.0/customer``)."""
    return CustomerOut.model_validate(await customers.own_public(session, by=me))
