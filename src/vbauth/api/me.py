"""``/v1.0/me``: the signed-in agent."""

from __future__ import annotations

from fastapi import APIRouter, Response

from vbauth.api.cached_reads import me_key
from vbauth.api.deps import CurrentAgent, RuntimeDep
from vbauth.api.responses import json_of, remember
from vbauth.schemas import AgentOut
from vbauth.services import agents

router = APIRouter(prefix="/v1.0", tags=["me"])


@router.get("/me", response_model=AgentOut)
async def get_me(me: CurrentAgent, runtime: RuntimeDep) -> Response:
    """The caller's own agent record; agents only."""
    generation = runtime.records.generation
    response = json_of(AgentOut.model_validate(await agents.read_own(runtime.reads, by=me)))
    remember(runtime, me_key(me), response, generation)
    return response
