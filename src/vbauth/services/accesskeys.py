"""Accesskeys: long-lived API keys, shown once, stored as SHA-256, acting as customer admins."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from vbauth import clock
from vbauth.db import set_each
from vbauth.identity import Identity
from vbauth.models import AccessKey
from vbauth.permissions import Permission
from vbauth.security.keys import display_prefix, hash_accesskey, new_accesskey
from vbauth.services import audit, events
from vbauth.services.agents import require_recent_login
from vbauth.services.changes import apply_changes, revoke
from vbauth.services.delegation import refuse_delegate
from vbauth.services.errors import InvalidArgument, NotFound, PermissionDenied
from vbauth.services.pages import Page, paged
from vbauth.services.validation import require_verified_signup

DEFAULT_EXPIRE = 365 * 86400
MIN_EXPIRE = 86400
MAX_EXPIRE = 3653 * 86400  # ten years, leap days included
EDITABLE_FIELDS = ("name", "detail")


def require_customer_admin(by: Identity) -> None:
    """Accesskey management is for customer admins (and accesskeys, which act as admins)."""
    if not by.can_access(by.customer_id, Permission.CUSTOMER_ADMIN):
        raise PermissionDenied()


async def create(
    session: AsyncSession, *, by: Identity, name: str, detail: str, expire: int | None
) -> tuple[AccessKey, str]:
    """A new key for the caller's customer and, once, the key itself."""
    require_customer_admin(by)  # before the expire check, as in the reference
    refuse_delegate(by, "create accesskeys")
    require_verified_signup(by)
    require_recent_login(by)  # a key outlasts the token that made it: not from a stale one
    key, token = await insert(
        session, customer_id=by.customer_id, name=name, detail=detail, expire=expire
    )
    _audit(session, "accesskey_created", key, by)
    return key, token


async def insert(
    session: AsyncSession, *, customer_id: uuid.UUID, name: str, detail: str, expire: int | None
) -> tuple[AccessKey, str]:
    """Store a new key; no authorization here (signup provisions one for a new customer)."""
    seconds = DEFAULT_EXPIRE if expire is None else expire
    if not MIN_EXPIRE <= seconds <= MAX_EXPIRE:
        raise InvalidArgument(
            f"expire must be between {MIN_EXPIRE} and {MAX_EXPIRE} seconds (1 day to 10 years)."
        )
    token = new_accesskey()
    moment = clock.now()
    key = AccessKey(
        customer_id=customer_id,
        name=name,
        detail=detail,
        token_hash=hash_accesskey(token),
        token_prefix=display_prefix(token),
        tm_create=moment,
        tm_expire=moment + timedelta(seconds=seconds),
    )
    session.add(key)
    await session.flush()
    events.announce(session, "created", key)
    return key, token


async def get(session: AsyncSession, *, by: Identity, key_id: uuid.UUID) -> AccessKey:
    """A live key of the caller's customer. Foreign and deleted keys are simply not found."""
    require_customer_admin(by)
    key = await session.get(AccessKey, key_id)
    if key is None or key.tm_delete is not None or key.customer_id != by.customer_id:
        raise NotFound(reason="ACCESSKEY_NOT_FOUND")
    return key


async def list_page(session: AsyncSession, *, by: Identity, page: Page) -> list[AccessKey]:
    require_customer_admin(by)
    query = select(AccessKey).where(
        AccessKey.customer_id == by.customer_id, AccessKey.tm_delete.is_(None)
    )
    return list((await session.scalars(paged(query, AccessKey, page))).all())


async def update(
    session: AsyncSession, *, by: Identity, key_id: uuid.UUID, changes: dict[str, Any]
) -> AccessKey:
    """Change name or detail; fields left out stay as they were (VoIPBIN blanks them)."""
    key = await get(session, by=by, key_id=key_id)
    apply_changes(key, changes, EDITABLE_FIELDS)
    _audit(session, "accesskey_updated", key, by)
    await session.flush()
    events.announce(session, "updated", key)
    return key


async def delete(session: AsyncSession, *, by: Identity, key_id: uuid.UUID) -> AccessKey:
    """Soft-delete a key; it stops working on the next request, in this process at once."""
    key = await get(session, by=by, key_id=key_id)
    await revoke(session, key)
    _audit(session, "accesskey_deleted", key, by)
    return key


def _audit(session: AsyncSession, type: str, key: AccessKey, by: Identity) -> None:
    """The key's id and shown prefix, never the key (its prefix is what lists show anyway)."""
    details = {"accesskey_id": str(key.id), "name": key.name, "token_prefix": key.token_prefix}
    audit.record(session, type, customer_id=key.customer_id, by=by, details=details)


async def record_last_used(session: AsyncSession, uses: dict[uuid.UUID, datetime]) -> None:
    """Write a batch of last-use times at once (keys gone meanwhile are skipped)."""
    await set_each(session, AccessKey, "tm_last_used", uses)
