"""Reads whose answer the front layer may serve from ``Runtime.records`` (hot, and cacheable).

``GET /v1.0/me`` and ``GET /v1.0/customer`` are what scripts and consoles poll. Their FastAPI
routes do the real work and leave the body in the cache; until a write anywhere clears it (or
the identity cache's TTL passes), the front layer answers the same caller from it, after the
same authentication and the same permission check. Each key says whose body it is, so a body
is only ever served to a caller the route would have given it to.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable

from vbauth.identity import AgentIdentity, DirectIdentity, Identity
from vbauth.permissions import ADMIN_OR_MANAGER

CacheKey = Callable[[Identity], Hashable | None]


def me_key(identity: Identity) -> Hashable | None:
    """Agents only (others get their 403 from the route)."""
    if isinstance(identity, AgentIdentity):
        return ("me", identity.agent_id)
    return None


def customer_key(identity: Identity) -> Hashable | None:
    """Admins and managers of the customer, and its accesskeys (others: the route's 403)."""
    if isinstance(identity, DirectIdentity):
        return None
    if not identity.can_access(identity.customer_id, ADMIN_OR_MANAGER):
        return None
    return ("customer", identity.customer_id)


CACHED_READS: dict[str, CacheKey] = {"/v1.0/me": me_key, "/v1.0/customer": customer_key}
