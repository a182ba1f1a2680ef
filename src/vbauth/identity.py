"""Who is calling: the identity every authorization decision is made against (reference §5.2)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from vbauth.permissions import Permission, agent_has, grantable_bits


@dataclass(frozen=True, slots=True)
class AgentIdentity:
    """An agent signed in with a login token, as the database says it is now."""

    agent_id: uuid.UUID
    customer_id: uuid.UUID
    session_id: uuid.UUID
    permission: int
    username: str
    customer_status: str
    deletion_scheduled: datetime | None = None

    kind = "agent"

    def has_permission(self, required: int) -> bool:
        return agent_has(self.permission, required)

    def can_access(self, customer_id: uuid.UUID, required: int) -> bool:
        """Reference §5.3: superadmins reach every customer; others only their own."""
        if self.is_superadmin:
            return True
        return customer_id == self.customer_id and self.has_permission(required)

    @property
    def grantable(self) -> int:
        return grantable_bits(self.permission)

    @property
    def is_superadmin(self) -> bool:
        return self.has_permission(Permission.PROJECT_SUPER_ADMIN)


Identity = AgentIdentity
