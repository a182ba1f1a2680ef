"""Which topics an identity may subscribe to (reference §7, tightened), and what matches.

Grammar: ``<scope>:<uuid>[:<resource_type>[:<resource_id>]]`` with scope ``customer_id`` or
``agent_id``, no empty part, at most four parts.

- Direct tokens: exactly ``customer_id:<own customer>:<allowed type>:<id>``, where the object
  ``<id>`` is bound to the token's resource. Delivery is exact.
- Agents without admin or manager bits: ``agent_id:<self>[…]`` only.
- Admins, managers and accesskeys: their own customer's ``customer_id`` topics (and, for agents,
  ``agent_id:<self>``). Superadmins: any customer's and any agent's. Delivery is by prefix, on
  whole parts: ``customer_id:<c>`` receives ``customer_id:<c>:aicall:<id>``.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from vbauth.events.model import Event
from vbauth.identity import DirectIdentity, Identity
from vbauth.permissions import ADMIN_OR_MANAGER, CUSTOMER_ADMIN_BIT

MAX_TOPIC_LENGTH = 256
MAX_PARTS = 4
NAME = re.compile(r"[a-z][a-z0-9_]{0,63}")
OBJECT_ID = re.compile(r"[A-Za-z0-9_.-]{1,128}")

# (resource_type, object id) -> the resource it is bound to, or None; see services.bindings.
BindingLookup = Callable[[uuid.UUID, str, str], Awaitable[uuid.UUID | None]]


@dataclass(frozen=True, slots=True)
class Refusal:
    topic: str
    reason: str


def _parse(topic: str) -> tuple[str, uuid.UUID, list[str]] | str:
    """(scope, id, rest) or why the topic is malformed."""
    if not isinstance(topic, str) or not topic or len(topic) > MAX_TOPIC_LENGTH:
        return "a topic is a non-empty string of at most 256 characters"
    parts = topic.split(":")
    if len(parts) < 2 or len(parts) > MAX_PARTS:
        return "a topic has 2 to 4 parts separated by ':'"
    scope, scope_id, *rest = parts
    if scope not in ("customer_id", "agent_id"):
        return "the scope must be customer_id or agent_id"
    try:
        parsed = uuid.UUID(scope_id)
    except ValueError:
        return "the second part must be a UUID"
    if parsed.int == 0 or str(parsed) != scope_id.lower():
        return "the second part must be a non-nil UUID in its canonical form"
    if rest and not NAME.fullmatch(rest[0]):
        return "the resource type must be lowercase letters, digits and '_'"
    if len(rest) == 2 and not OBJECT_ID.fullmatch(rest[1]):
        return "the resource id must be a non-empty id"
    return scope, parsed, rest


async def refusal(identity: Identity, topic: str, bindings: BindingLookup) -> str | None:
    """Why ``identity`` may not subscribe to ``topic``, or None when it may."""
    parsed = _parse(topic)
    if isinstance(parsed, str):
        return parsed
    scope, scope_id, rest = parsed
    if isinstance(identity, DirectIdentity):
        return await _direct_refusal(identity, scope, scope_id, rest, bindings)
    if scope == "agent_id":
        if identity.is_superadmin or scope_id == identity.agent_id:
            return None
        return "agent topics are only your own"
    if identity.is_superadmin:
        return None
    if scope_id != identity.customer_id:
        return "customer topics are only your own customer's"
    if not identity.has_permission(ADMIN_OR_MANAGER):
        return "customer topics need admin or manager permission"
    return None


async def _direct_refusal(
    identity: DirectIdentity,
    scope: str,
    scope_id: uuid.UUID,
    rest: list[str],
    bindings: BindingLookup,
) -> str | None:
    if scope != "customer_id" or len(rest) != 2:
        return "direct tokens subscribe only to customer_id:<uuid>:<resource_type>:<resource_id>"
    if scope_id != identity.customer_id:
        return "customer topics are only your own customer's"
    resource_type, object_id = rest
    if not identity.may_reach(resource_type):
        return f"this token cannot reach {resource_type} objects"
    if await bindings(identity.customer_id, resource_type, object_id) != identity.resource_id:
        return "the object is not bound to this token's resource"
    return None


def matches(subscription: str, topic: str, *, exact: bool) -> bool:
    """Exact for direct tokens; otherwise a prefix on whole parts."""
    if exact:
        return subscription == topic
    return topic == subscription or topic.startswith(subscription + ":")


# vbauth's own kinds of object: an event about one goes only to those who may read it through
# the REST API, whatever topic they subscribed to (accesskey lists are for admins, say).
OWN_KINDS = frozenset({"accesskey", "agent", "customer", "direct"})


def may_read(identity: Identity, event: Event) -> bool:
    """Whether ``identity`` could read the event's object through the API."""
    kind = event.resource_type
    if kind not in OWN_KINDS or identity.is_superadmin:
        return True  # upstreams' objects: the topic rules (and bindings) decide
    owner = event.owner_agent_id
    if kind == "agent" and owner is not None and owner == identity.agent_id:
        return True  # an agent reads itself (/v1.0/me)
    needed = CUSTOMER_ADMIN_BIT if kind == "accesskey" else ADMIN_OR_MANAGER
    return identity.can_access(event.customer_id, needed)
