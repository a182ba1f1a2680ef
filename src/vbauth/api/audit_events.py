"""``GET /v1.0/audit_events``: the security events of the caller's customer (or all of them)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Query

from vbauth.api.deps import CurrentIdentity, SessionDep
from vbauth.api.errors import ApiError
from vbauth.api.pagination import PageDep
from vbauth.clock import format_timestamp, parse_timestamp
from vbauth.schemas import AuditEventOut, PageOut
from vbauth.services import audit

router = APIRouter(prefix="/v1.0/audit_events", tags=["audit"])


@router.get("")
async def list_audit_events(
    me: CurrentIdentity,
    session: SessionDep,
    page: PageDep,
    type: Annotated[str | None, Query(max_length=48)] = None,
    since: Annotated[str | None, Query(max_length=64)] = None,
    until: Annotated[str | None, Query(max_length=64)] = None,
    customer_id: Annotated[uuid.UUID | None, Query()] = None,
) -> PageOut[AuditEventOut]:
    """Newest first. Admins see their customer's entries; superadmins everyone's, or one
    customer's with ``customer_id``; ``since``/``until`` are timestamps as the API writes them."""
    scope = audit.readable_scope(me, customer_id)
    if type is not None and type not in audit.TYPES:
        message = 'The parameter "type" is not a known type.'
        raise ApiError(400, "INVALID_REQUEST_PARAMETER", message)
    listing = await audit.list_page(
        session,
        customer_id=scope,
        page=page,
        type=type,
        since=_moment("since", since),
        until=_moment("until", until),
    )
    token = format_timestamp(listing.cursor) if listing.cursor else ""
    return PageOut[AuditEventOut](
        result=[AuditEventOut.of(row) for row in listing.items], next_page_token=token
    )


def _moment(name: str, value: str | None) -> datetime | None:
    if value is None:
        return None
    try:
        return parse_timestamp(value)
    except ValueError as error:
        raise ApiError(
            400, "INVALID_REQUEST_PARAMETER", f'The parameter "{name}" has an invalid format.'
        ) from error
