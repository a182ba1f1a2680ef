"""Who is calling: the identities every authorization decision is made against (reference §5.2).

Each identity answers the same questions: its customer, ``has_permission(bits)``,
``can_access(customer_id, bits)``, the bits it may grant, and until when it is valid.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from vbauth.permissions import (
    CUSTOMER_ADMIN_BIT,
    CUSTOMER_BITS,
    SUPER_ADMIN_BIT,
    agent_has,
    grantable_bits,
)


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
    valid_until: datetime | None = None  # the session's end, or an unverified signup's deadline
    session_started: datetime | None = None  # when this login happened (fresh-login checks)
    unverified_signup: bool = False  # its customer signed up and has not verified its email

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
        return self.permission & SUPER_ADMIN_BIT != 0


@dataclass(frozen=True, slots=True)
class AccesskeyIdentity:
    """An accesskey: acts as an admin of its own customer, and of nothing else (reference §5.2)."""

    accesskey_id: uuid.UUID
    customer_id: uuid.UUID
    token_prefix: str
    customer_status: str
    deletion_scheduled: datetime | None = None
    valid_until: datetime | None = None
    unverified_signup: bool = False

    kind = "accesskey"
    agent_id = None
    session_id = None
    is_superadmin = False
    grantable = CUSTOMER_BITS

    def has_permission(self, required: int) -> bool:
        return required & CUSTOMER_ADMIN_BIT != 0

    def can_access(self, customer_id: uuid.UUID, required: int) -> bool:
        return customer_id == self.customer_id and self.has_permission(required)


@dataclass(frozen=True, slots=True)
class DirectIdentity:
    """An anonymous widget user, booted from a direct hash: one resource, a few types, no bits.

    It never passes a permission check; the gateway admits it only on routes whose resource type
    it is allowed, and upstreams only show it objects bound to its resource.
    """

    direct_id: uuid.UUID
    customer_id: uuid.UUID
    resource_type: str
    resource_id: uuid.UUID
    allowed_resource_types: tuple[str, ...]
    customer_status: str
    deletion_scheduled: datetime | None = None
    valid_until: datetime | None = None

    unverified_signup = False  # direct tokens create nothing
    kind = "direct"
    agent_id = None
    session_id = None
    is_superadmin = False
    grantable = 0

    def has_permission(self, required: int) -> bool:
        return False

    def can_access(self, customer_id: uuid.UUID, required: int) -> bool:
        return False

    def may_reach(self, resource_type: str) -> bool:
        return resource_type in self.allowed_resource_types


@dataclass(frozen=True, slots=True)
class DelegateIdentity:
    """A superadmin acting as an admin of one customer, for a stated reason (8 hours at most).

    It may do what the customer's admin may, except what would outlast it: no accesskeys, no
    agents or passwords, no further delegation, no unregistering (see the services). Every write
    it makes is audited with ``delegated_by`` and ``reason``.
    """

    delegation_id: uuid.UUID
    customer_id: uuid.UUID
    delegated_by: uuid.UUID  # the superadmin agent
    username: str  # the superadmin's
    reason: str
    customer_status: str
    deletion_scheduled: datetime | None = None
    valid_until: datetime | None = None

    kind = "delegate"
    agent_id = None
    session_id = None
    is_superadmin = False  # inside the customer it is an admin, nothing more
    unverified_signup = False
    grantable = CUSTOMER_BITS

    def has_permission(self, required: int) -> bool:
        return required & CUSTOMER_ADMIN_BIT != 0

    def can_access(self, customer_id: uuid.UUID, required: int) -> bool:
        return customer_id == self.customer_id and self.has_permission(required)


Identity = AgentIdentity | AccesskeyIdentity | DirectIdentity | DelegateIdentity
# What vbauth's own endpoints accept: a direct token is refused before they run.
CustomerIdentity = AgentIdentity | AccesskeyIdentity | DelegateIdentity
