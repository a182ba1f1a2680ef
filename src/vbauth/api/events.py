"""``POST /internal/events``: how upstream services publish to the event feed."""

from __future__ import annotations

import hmac
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from pydantic import Field

from vbauth.api.deps import RuntimeDep
from vbauth.api.gates import authenticator
from vbauth.authn import bearer_token
from vbauth.events.model import Event
from vbauth.runtime import Runtime
from vbauth.schemas import Input, JsonUuid
from vbauth.services.errors import AuthenticationRequired, InvalidCredentials

router = APIRouter(prefix="/internal", tags=["internal"])

Name = Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]{0,63}$")]


class EventIn(Input):
    type: Name
    customer_id: JsonUuid
    resource_type: Name
    resource_id: Annotated[str, Field(pattern=r"^[A-Za-z0-9_.-]{1,128}$")]
    data: dict[str, Any] = Field(default_factory=dict)
    owner_agent_id: JsonUuid | None = None
    bound_to: JsonUuid | None = None  # the resource (an AI, a widget) the object belongs to


@authenticator("events")
async def _publisher(request: Request) -> None:
    """The caller holds the events secret (a dependency: checked before the body's fields)."""
    runtime: Runtime = request.app.state.runtime
    presented = bearer_token(request.headers.get("authorization", ""))
    if not presented:
        raise AuthenticationRequired()
    if not hmac.compare_digest(presented.encode(), runtime.events_secret.encode()):
        raise InvalidCredentials()


@router.post("/events", dependencies=[Depends(_publisher)])
async def publish_event(body: EventIn, runtime: RuntimeDep) -> dict[str, str]:
    """Publish an upstream's event; authenticated with ``Authorization: Bearer <events secret>``.

    Subscribers of ``customer_id:<c>:<resource_type>:<resource_id>`` (and of the owner's
    ``agent_id`` topic) receive ``{"type": ..., "data": ...}``; with ``bound_to``, so do direct
    tokens of that resource.
    """
    await runtime.publish_upstream_event(
        Event(
            type=body.type,
            customer_id=body.customer_id,
            resource_type=body.resource_type,
            resource_id=body.resource_id,
            data=body.data,
            owner_agent_id=body.owner_agent_id,
            bound_to=body.bound_to,
        )
    )
    return {}
