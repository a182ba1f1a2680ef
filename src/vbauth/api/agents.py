"""``/v1.0/agents``: a customer's agents, for its admins and managers."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from vbauth.api.deps import CurrentIdentity, ResourceId, RuntimeDep, SessionDep
from vbauth.api.me import sessions_page
from vbauth.api.openapi import errors
from vbauth.api.pagination import PageDep
from vbauth.schemas import (
    AgentCreate,
    AgentOut,
    AgentStatus,
    AgentUpdate,
    PageOut,
    PasswordUpdate,
    PermissionUpdate,
    SessionOut,
    SessionsEnded,
)
from vbauth.services import agents, sessions

router = APIRouter(prefix="/v1.0/agents", tags=["agents"])


@router.get("")
async def list_agents(
    me: CurrentIdentity,
    session: SessionDep,
    page: PageDep,
    status: Annotated[AgentStatus | None, Query()] = None,
    tag_ids: Annotated[str | None, Query(max_length=4000)] = None,
) -> PageOut[AgentOut]:
    """Agents of the caller's customer, newest first; ``tag_ids`` is comma-separated."""
    tags = [tag.strip() for tag in tag_ids.split(",") if tag.strip()] if tag_ids else None
    listing = await agents.list_page(session, by=me, page=page, status=status, tag_ids=tags)
    return PageOut[AgentOut].of_listing(listing, AgentOut)


@router.post("", responses=errors(409))
async def create_agent(
    body: AgentCreate, me: CurrentIdentity, session: SessionDep, runtime: RuntimeDep
) -> AgentOut:
    """Create an agent with at most the permission bits the caller may grant."""
    agent = await agents.create(
        session,
        by=me,
        passwords=runtime.passwords,
        username=body.username,
        password=body.password,
        permission=body.permission,
        name=body.name,
        detail=body.detail,
        ring_method=body.ring_method,
        tag_ids=[str(tag) for tag in body.tag_ids],
        addresses=[address.model_dump() for address in body.addresses],
    )
    return AgentOut.model_validate(agent)


@router.get("/{agent_id}")
async def get_agent(agent_id: ResourceId, me: CurrentIdentity, session: SessionDep) -> AgentOut:
    return AgentOut.model_validate(await agents.get(session, by=me, agent_id=agent_id))


@router.put("/{agent_id}")
async def update_agent(
    agent_id: ResourceId, body: AgentUpdate, me: CurrentIdentity, session: SessionDep
) -> AgentOut:
    """Change name, detail or ring method; fields left out stay as they were."""
    changes = body.model_dump(exclude_unset=True, exclude_none=True)
    agent = await agents.update_fields(session, by=me, agent_id=agent_id, changes=changes)
    return AgentOut.model_validate(agent)


@router.delete("/{agent_id}", responses=errors(409))
async def delete_agent(agent_id: ResourceId, me: CurrentIdentity, session: SessionDep) -> AgentOut:
    """Soft-delete an agent; its tokens stop working at once. The last admin stays."""
    return AgentOut.model_validate(await agents.delete(session, by=me, agent_id=agent_id))


@router.put("/{agent_id}/permission", responses=errors(409))
async def update_agent_permission(
    agent_id: ResourceId, body: PermissionUpdate, me: CurrentIdentity, session: SessionDep
) -> AgentOut:
    """Set an agent's permission bits, within what the caller may grant."""
    agent = await agents.update_permission(
        session, by=me, agent_id=agent_id, permission=body.permission
    )
    return AgentOut.model_validate(agent)


@router.put("/{agent_id}/password")
async def update_agent_password(
    agent_id: ResourceId,
    body: PasswordUpdate,
    me: CurrentIdentity,
    session: SessionDep,
    runtime: RuntimeDep,
) -> AgentOut:
    """Set an agent's password (8 to 1024 characters); its other sessions end.

    Setting one's own needs ``current_password`` or a login of the last ten minutes.
    """
    agent = await agents.update_password(
        session,
        by=me,
        passwords=runtime.passwords,
        agent_id=agent_id,
        password=body.password,
        current_password=body.current_password,
    )
    return AgentOut.model_validate(agent)


@router.post("/{agent_id}/direct-hash-regenerate", responses=errors(409))
async def regenerate_agent_direct_hash(
    agent_id: ResourceId, me: CurrentIdentity, session: SessionDep
) -> AgentOut:
    """Replace the agent's direct hash, or make one when it has none; answers the agent.

    Tokens booted from the old hash stop working at once.
    """
    agent = await agents.regenerate_direct_hash(session, by=me, agent_id=agent_id)
    return AgentOut.model_validate(agent)


@router.get("/{agent_id}/sessions")
async def list_agent_sessions(
    agent_id: ResourceId, me: CurrentIdentity, session: SessionDep, page: PageDep
) -> PageOut[SessionOut]:
    """An agent's live logins, for its admins and managers (within their rights over it)."""
    rows = await sessions.list_page(session, by=me, agent_id=agent_id, page=page)
    return sessions_page(rows, me.session_id)


@router.delete("/{agent_id}/sessions")
async def end_agent_sessions(
    agent_id: ResourceId, me: CurrentIdentity, session: SessionDep
) -> SessionsEnded:
    """End every login of the agent (the caller's own excepted, when it is the agent)."""
    ended = await sessions.end_all(session, by=me, agent_id=agent_id, keep=me.session_id)
    return SessionsEnded(ended=ended)


@router.delete("/{agent_id}/sessions/{session_id}")
async def end_agent_session(
    agent_id: ResourceId, session_id: ResourceId, me: CurrentIdentity, session: SessionDep
) -> SessionOut:
    ended = await sessions.end(session, by=me, agent_id=agent_id, session_id=session_id)
    return SessionOut.of(ended, me.session_id)
