"""``/v1.0/me``: the signed-in agent."""

from __future__ import annotations

from fastapi import APIRouter

from vbauth.api.deps import CurrentAgent, SessionDep
from vbauth.schemas import AgentOut
from vbauth.services import agents

router = APIRouter(prefix="/v1.0", tags=["me"])


@router.get("/me")
async def get_me(me: CurrentAgent, session: SessionDep) -> AgentOut:
    """The caller's own agent record; agents only."""
    agent = await agents.get(session, by=me, agent_id=me.agent_id)
    return AgentOut.model_validate(agent)
