"""The audit log: who did what to which customer, from where, in which request.

Services record an entry in the transaction of the change it describes, so an undone change
leaves no entry and a done one always has one. Refusals (a failed login, a denied delegation)
have no transaction of their own: ``record_alone`` writes them in one.

The request's address, user agent and id come from ``RequestContext``, set once per request
by the front layer; the shell (``vbauth ...``) has none, and its entries say ``operator``.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable, MutableMapping
from contextlib import AbstractAsyncContextManager
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from vbauth.identity import AccesskeyIdentity, AgentIdentity, DirectIdentity, Identity
from vbauth.models import AuditEvent
from vbauth.permissions import Permission
from vbauth.services.errors import PermissionDenied
from vbauth.services.pages import Listing, Page, paged

TYPES = frozenset(
    {
        "login_succeeded",
        "login_failed",
        "login_throttled",
        "logout",
        "session_revoked",
        "password_changed",
        "password_reset",
        "permission_changed",
        "agent_created",
        "agent_deleted",
        "accesskey_created",
        "accesskey_updated",
        "accesskey_deleted",
        "direct_created",
        "direct_regenerated",
        "direct_deleted",
        "boot_failed",
        "delegate_token_issued",
        "delegate_token_denied",
        "delegate_request",
        "customer_frozen",
        "customer_recovered",
        "customer_deleted",
        "rate_limited",
    }
)
MAX_USER_AGENT = 256
# Refusals that cost an attacker nothing (a throttled login, a rate-limited request) are
# recorded once per key in this many seconds, so a flood cannot turn into a flood of writes.
QUIET_SECONDS = 60.0
_last_recorded: dict[object, float] = {}
MAX_QUIET_KEYS = 10_000


def first_in_a_while(key: object) -> bool:
    """True the first time ``key`` is seen in ``QUIET_SECONDS`` (in this process)."""
    now = time.monotonic()
    last = _last_recorded.get(key)
    if last is not None and now - last < QUIET_SECONDS:
        return False
    if len(_last_recorded) >= MAX_QUIET_KEYS:
        _last_recorded.clear()
    _last_recorded[key] = now
    return True


@dataclass(frozen=True, slots=True)
class RequestContext:
    ip: str = ""
    user_agent: str = ""
    request_id: str = ""


# The request being served, as (its ASGI scope, a function of the scope giving the client's
# address): set by the front layer for every request, read only when an entry is written, so
# a request that records nothing pays for nothing but the set.
ScopeAndAddress = tuple[MutableMapping[str, Any], Callable[[MutableMapping[str, Any]], str]]
log = logging.getLogger("vbauth.audit")

current_scope: ContextVar[ScopeAndAddress | None] = ContextVar("vbauth_request", default=None)


def request_context() -> RequestContext | None:
    current = current_scope.get()
    if current is None:
        return None
    scope, address_of = current
    user_agent = ""
    for name, value in scope.get("headers", ()):
        if name == b"user-agent":
            user_agent = value.decode("latin-1")
            break
    request_id = str(scope.get("state", {}).get("request_id", ""))
    return RequestContext(address_of(scope), user_agent, request_id)


@dataclass(frozen=True, slots=True)
class Actor:
    kind: str  # agent, accesskey, direct, delegate, anonymous, operator
    id: uuid.UUID | None = None
    username: str = ""


ANONYMOUS = Actor("anonymous")
OPERATOR = Actor("operator")


def actor_of(identity: Identity | None) -> Actor:
    if identity is None:
        return ANONYMOUS if current_scope.get() is not None else OPERATOR
    if isinstance(identity, AgentIdentity):
        return Actor("agent", identity.agent_id, identity.username)
    if isinstance(identity, AccesskeyIdentity):
        return Actor("accesskey", identity.accesskey_id)
    if isinstance(identity, DirectIdentity):
        return Actor("direct", identity.direct_id)
    return Actor("delegate", identity.delegated_by, identity.username)


def record(
    session: AsyncSession,
    type: str,
    *,
    customer_id: uuid.UUID | None,
    by: Identity | Actor | None = None,
    details: dict[str, Any] | None = None,
) -> AuditEvent:
    """Add an entry to this transaction. ``details`` must hold no secret: ids and reasons."""
    if type not in TYPES:
        raise ValueError(f"unknown audit type {type!r}")
    actor = by if isinstance(by, Actor) else actor_of(by)
    context = request_context() or RequestContext()
    entry = AuditEvent(
        type=type,
        customer_id=customer_id,
        actor_kind=actor.kind,
        actor_id=actor.id,
        actor_username=actor.username,
        ip=context.ip[:64],
        user_agent=context.user_agent[:MAX_USER_AGENT],
        request_id=context.request_id[:64],
        details={**(details or {}), **_delegation_of(by)},
    )
    session.add(entry)
    # Written to the log too, once the transaction commits (runtime.transaction): an entry
    # rolled back with its request never happened.
    session.info.setdefault(COMMITTED_ENTRIES, []).append(entry)
    return entry


COMMITTED_ENTRIES = "audit_entries"


def log_committed(entries: list[AuditEvent]) -> None:
    """One log line per security event, for log collectors (``VBAUTH_LOG_FORMAT=json`` gives
    each field its own key). Details hold ids and reasons only, never a secret."""
    for entry in entries:
        log.info(
            "%s customer=%s actor=%s:%s",
            entry.type,
            entry.customer_id or "-",
            entry.actor_kind,
            entry.actor_username or entry.actor_id or "-",
            extra={
                "event": entry.type,
                "customer_id": str(entry.customer_id) if entry.customer_id else None,
                "actor_kind": entry.actor_kind,
                "actor": entry.actor_username or (str(entry.actor_id) if entry.actor_id else None),
                "request_id": entry.request_id or None,
                "client_ip": entry.ip or None,
                "details": entry.details,
            },
        )


Transactions = Callable[[], AbstractAsyncContextManager[AsyncSession]]


async def record_alone(
    begin: Transactions,
    type: str,
    *,
    customer_id: uuid.UUID | None,
    by: Identity | Actor | None = None,
    details: dict[str, Any] | None = None,
) -> None:
    """An entry for something that changed nothing (a refusal), in a transaction of its own."""
    async with begin() as session:
        record(session, type, customer_id=customer_id, by=by, details=details)


def _delegation_of(by: object) -> dict[str, Any]:
    """A delegate's entries name the superadmin behind it and the reason it gave."""
    delegated_by = getattr(by, "delegated_by", None)
    if delegated_by is None:
        return {}
    return {"delegated_by": str(delegated_by), "delegation_reason": getattr(by, "reason", "")}


def readable_scope(by: Identity, customer_id: uuid.UUID | None = None) -> uuid.UUID | None:
    """Whose entries ``by`` may read: a superadmin everyone's (None) or the one customer it
    names; a customer admin its own customer's only; anyone else none (403)."""
    if by.is_superadmin:
        return customer_id
    if not by.can_access(by.customer_id, Permission.CUSTOMER_ADMIN):
        raise PermissionDenied()
    if customer_id is not None and customer_id != by.customer_id:
        raise PermissionDenied()
    return by.customer_id


async def list_page(
    session: AsyncSession,
    *,
    customer_id: uuid.UUID | None,
    page: Page,
    type: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
) -> Listing:
    """Entries newest first; ``customer_id`` None means every customer (superadmins)."""
    query = select(AuditEvent)
    if customer_id is not None:
        query = query.where(AuditEvent.customer_id == customer_id)
    if type is not None:
        query = query.where(AuditEvent.type == type)
    if since is not None:
        query = query.where(AuditEvent.tm_create >= since)
    if until is not None:
        query = query.where(AuditEvent.tm_create < until)
    rows = list((await session.scalars(paged(query, AuditEvent, page))).all())
    return Listing(items=rows, cursor=rows[-1].tm_create if rows else None)


async def prune(session: AsyncSession, *, older_than: datetime) -> int:
    result = await session.execute(delete(AuditEvent).where(AuditEvent.tm_create < older_than))
    return int(getattr(result, "rowcount", 0) or 0)
