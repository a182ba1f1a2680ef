"""``/v1.0/me``: the signed-in agent."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Response

from vbauth.api.cached_reads import me_key
from vbauth.api.deps import CurrentAgent, ResourceId, RuntimeDep, SessionDep
from vbauth.api.pagination import PageDep
from vbauth.api.responses import json_of, remember
from vbauth.clock import format_timestamp
from vbauth.schemas import AgentOut, PageOut, SessionOut, SessionsEnded
from vbauth.services import agents, sessions

router = APIRouter(prefix="/v1.0", tags=["me"])


@router.get("/me", response_model=AgentOut)
async def get_me(me: CurrentAgent, runtime: RuntimeDep) -> Response:
    """The caller's own agent record; agents only."""
    generation = runtime.records.generation
    response = json_of(AgentOut.model_validate(await agents.read_own(runtime.reads, by=me)))
    remember(runtime, me_key(me), response, generation)
    return response


@router.get("/me/sessions")
async def list_my_sessions(
    me: CurrentAgent, session: SessionDep, page: PageDep
) -> PageOut[SessionOut]:
    """The caller's live logins, newest first; ``current`` marks the one calling."""
    rows = await sessions.list_page(session, by=me, agent_id=me.agent_id, page=page)
    return sessions_page(rows, me.session_id)


@router.delete("/me/sessions")
async def end_my_other_sessions(me: CurrentAgent, session: SessionDep) -> SessionsEnded:
    """End every login of the caller but this one ("sign out everywhere else")."""
    ended = await sessions.end_all(session, by=me, agent_id=me.agent_id, keep=me.session_id)
    return SessionsEnded(ended=ended)


@router.delete("/me/sessions/{session_id}")
async def end_my_session(
    session_id: ResourceId, me: CurrentAgent, session: SessionDep
) -> SessionOut:
    """End one of the caller's logins; its token gets 401 from its next request."""
    ended = await sessions.end(session, by=me, agent_id=me.agent_id, session_id=session_id)
    return SessionOut.of(ended, me.session_id)


def sessions_page(rows: list[Any], current: Any) -> PageOut[SessionOut]:
    token = format_timestamp(rows[-1].tm_create) if rows else ""
    return PageOut[SessionOut](
        result=[SessionOut.of(row, current) for row in rows], next_page_token=token
    )
