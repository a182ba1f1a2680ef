"""``/v1.0/directs`` (admins and managers) and ``POST /auth/boot`` (anyone with a hash)."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query, Response

from vbauth.api.deps import CurrentIdentity, ResourceId, RuntimeDep, SessionDep
from vbauth.api.openapi import errors
from vbauth.api.pagination import PageDep
from vbauth.clock import format_timestamp
from vbauth.schemas import BootIn, BootOut, DirectCreate, DirectOut, PageOut
from vbauth.services import audit, directs

router = APIRouter(prefix="/v1.0/directs", tags=["directs"])
boot_router = APIRouter(prefix="/auth", tags=["directs"])


@router.get("")
async def list_directs(
    me: CurrentIdentity,
    session: SessionDep,
    page: PageDep,
    resource_type: Annotated[str | None, Query(max_length=32)] = None,
    resource_id: Annotated[uuid.UUID | None, Query()] = None,
) -> PageOut[DirectOut]:
    """The customer's direct hashes, newest first, optionally for one resource."""
    items = await directs.list_page(
        session, by=me, page=page, resource_type=resource_type, resource_id=resource_id
    )
    return PageOut[DirectOut].of(items, DirectOut)


@router.post("", responses=errors(404, 409))
async def create_direct(body: DirectCreate, me: CurrentIdentity, session: SessionDep) -> DirectOut:
    """Make the direct hash of a resource (one per resource)."""
    direct = await directs.create(
        session, by=me, resource_type=body.resource_type, resource_id=body.resource_id
    )
    return DirectOut.model_validate(direct)


@router.get("/{direct_id}")
async def get_direct(direct_id: ResourceId, me: CurrentIdentity, session: SessionDep) -> DirectOut:
    return DirectOut.model_validate(await directs.get(session, by=me, direct_id=direct_id))


@router.delete("/{direct_id}")
async def delete_direct(
    direct_id: ResourceId, me: CurrentIdentity, session: SessionDep
) -> DirectOut:
    """Delete a hash; tokens booted from it stop working at once."""
    return DirectOut.model_validate(await directs.delete(session, by=me, direct_id=direct_id))


@router.post("/{direct_id}/regenerate")
async def regenerate_direct(
    direct_id: ResourceId, me: CurrentIdentity, session: SessionDep
) -> DirectOut:
    """Replace a hash; tokens booted from the old one stop working at once."""
    return DirectOut.model_validate(await directs.regenerate(session, by=me, direct_id=direct_id))


@boot_router.post("/boot")
async def boot(body: BootIn, runtime: RuntimeDep, response: Response) -> BootOut:
    """Turn a direct hash into a 4-hour token scoped to its resource."""
    settings = runtime.settings
    try:
        # Its own (read) transaction, ended before a refusal is recorded in another: on
        # SQLite a second writer would wait for the first for ever.
        async with runtime.transaction(write=False) as session:
            booted = await directs.boot(
                session,
                keys=runtime.keys,
                ttl=settings.token_ttl_direct,
                scopes=settings.direct_scopes,
                direct_hash=body.direct_hash,
            )
    except directs.BootRefused as error:
        await audit.record_alone(
            runtime.transaction,
            "boot_failed",
            customer_id=error.customer_id,
            details={"reason": error.message},
        )
        raise
    response.headers["Cache-Control"] = "no-store"
    direct = booted.direct
    return BootOut(
        token=booted.token.token,
        resource_type=direct.resource_type,
        resource_id=direct.resource_id,
        customer_id=direct.customer_id,
        expire=format_timestamp(booted.token.expires_at),
    )
