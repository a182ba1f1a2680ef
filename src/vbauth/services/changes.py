"""Changes every resource service makes the same way: partial updates and soft deletes."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from vbauth import clock
from vbauth.db import mark_identity_changed
from vbauth.models import AccessKey, Direct
from vbauth.services import events


def apply_changes(item: Any, changes: dict[str, Any], editable: Iterable[str]) -> None:
    """Set the editable fields present in ``changes`` and stamp ``tm_update``."""
    for name in editable:
        if name in changes:
            setattr(item, name, changes[name])
    item.tm_update = clock.now()


async def revoke(session: AsyncSession, item: AccessKey | Direct) -> None:
    """Soft-delete a credential-bearing resource: its tokens die now, subscribers are told."""
    item.tm_delete = item.tm_update = clock.now()
    mark_identity_changed(session)
    await session.flush()
    events.announce(session, "deleted", item)
