"""``/v1.0/accesskeys``: a customer's API keys, for its admins."""

from __future__ import annotations

from fastapi import APIRouter, Response

from vbauth.api.deps import CurrentIdentity, ResourceId, SessionDep
from vbauth.api.pagination import PageDep
from vbauth.schemas import (
    AccesskeyCreate,
    AccesskeyCreated,
    AccesskeyOut,
    AccesskeyUpdate,
    PageOut,
)
from vbauth.services import accesskeys

router = APIRouter(prefix="/v1.0/accesskeys", tags=["accesskeys"])


@router.get("")
async def list_accesskeys(
    me: CurrentIdentity, session: SessionDep, page: PageDep
) -> PageOut[AccesskeyOut]:
    """The customer's live keys, newest first; never the keys themselves."""
    items = await accesskeys.list_page(session, by=me, page=page)
    return PageOut[AccesskeyOut].of(items, AccesskeyOut)


@router.post("")
async def create_accesskey(
    body: AccesskeyCreate, me: CurrentIdentity, session: SessionDep, response: Response
) -> AccesskeyCreated:
    """Create a key; ``token`` is in this response only. ``expire``: seconds, default 1 year."""
    key, token = await accesskeys.create(
        session, by=me, name=body.name, detail=body.detail, expire=body.expire
    )
    response.headers["Cache-Control"] = "no-store"
    return AccesskeyCreated.of(key, token)


@router.get("/{key_id}")
async def get_accesskey(
    key_id: ResourceId, me: CurrentIdentity, session: SessionDep
) -> AccesskeyOut:
    return AccesskeyOut.model_validate(await accesskeys.get(session, by=me, key_id=key_id))


@router.put("/{key_id}")
async def update_accesskey(
    key_id: ResourceId, body: AccesskeyUpdate, me: CurrentIdentity, session: SessionDep
) -> AccesskeyOut:
    """Change name or detail; fields left out stay as they were."""
    changes = body.model_dump(exclude_unset=True, exclude_none=True)
    key = await accesskeys.update(session, by=me, key_id=key_id, changes=changes)
    return AccesskeyOut.model_validate(key)


@router.delete("/{key_id}")
async def delete_accesskey(
    key_id: ResourceId, me: CurrentIdentity, session: SessionDep
) -> AccesskeyOut:
    """Delete a key; it stops working at once."""
    return AccesskeyOut.model_validate(await accesskeys.delete(session, by=me, key_id=key_id))
