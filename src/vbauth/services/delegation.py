"""Delegation (reference §1.8): a superadmin acts as an admin of one customer, saying why.

Checked in the reference's order; each refusal carries the reference's denial reason, which
the audit log records (``delegate_token_denied``) for the target customer when there is one.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from vbauth import clock
from vbauth.authn import DELEGATE_TOKEN_TYPE
from vbauth.identity import AgentIdentity, DelegateIdentity, Identity
from vbauth.models import Customer, Delegation
from vbauth.security.tokens import IssuedToken, KeyRing
from vbauth.services import audit
from vbauth.services.errors import NotFound, PermissionDenied, ServiceError, Unprocessable

REASON = re.compile(r"[\x20-\x7e]{10,200}")  # printable ASCII, 10 to 200 characters


@dataclass(frozen=True, slots=True)
class Delegated:
    delegation: Delegation
    token: IssuedToken


class Denied(Exception):
    """A refused delegation: the error to answer, and why, for the audit log."""

    def __init__(
        self, error: ServiceError, denial_reason: str, customer_id: uuid.UUID | None
    ) -> None:
        super().__init__(error.message)
        self.error, self.denial_reason, self.customer_id = error, denial_reason, customer_id


async def delegate(
    session: AsyncSession,
    *,
    by: Identity,
    keys: KeyRing,
    ttl: int,
    customer_id: str,
    reason: str,
) -> Delegated:
    try:
        target_id = uuid.UUID(customer_id)
    except ValueError:
        raise Denied(
            Unprocessable("customer_id is not a UUID.", reason="INVALID_CUSTOMER_ID"),
            "invalid_input",
            None,
        ) from None
    # Refusals of callers who may not delegate are recorded in their own customer's log, not
    # the target's: anyone could otherwise write into any customer's log.
    if isinstance(by, DelegateIdentity):
        raise Denied(
            PermissionDenied("A delegate cannot delegate.", reason="RECURSIVE_DELEGATION"),
            "recursive_delegation",
            by.customer_id,
        )
    if not isinstance(by, AgentIdentity) or not by.is_superadmin:
        raise Denied(PermissionDenied(), "not_superadmin", by.customer_id)
    if not REASON.fullmatch(reason):
        raise Denied(
            Unprocessable(
                "reason must be 10 to 200 printable ASCII characters.", reason="INVALID_REASON"
            ),
            "invalid_input",
            target_id,
        )
    customer = await session.get(Customer, target_id)
    if customer is None:
        raise Denied(NotFound(reason="CUSTOMER_NOT_FOUND"), "customer_not_found", None)
    if customer.status in ("deleted", "expired") or customer.tm_delete is not None:
        raise Denied(NotFound(reason="CUSTOMER_NOT_FOUND"), "customer_deleted", target_id)
    if customer.is_platform:  # its agents are superadmins: one acts as itself
        raise Denied(
            PermissionDenied(
                "The platform's own customer cannot be delegated to.", reason="PLATFORM"
            ),
            "invalid_input",
            target_id,
        )
    moment = clock.now()
    delegation = Delegation(
        agent_id=by.agent_id,
        customer_id=target_id,
        reason=reason,
        tm_create=moment,
        tm_expire=moment + timedelta(seconds=ttl),
    )
    session.add(delegation)
    await session.flush()
    token = keys.issue(
        typ=DELEGATE_TOKEN_TYPE,
        subject=str(by.agent_id),
        ttl=ttl,
        at=moment,
        extra={"did": str(delegation.id)},
    )
    audit.record(
        session,
        "delegate_token_issued",
        customer_id=target_id,
        by=by,
        details={"delegation_id": str(delegation.id), "reason": reason},
    )
    return Delegated(delegation, token)


def refuse_delegate(by: Identity, what: str) -> None:
    """What a delegate may not do: whatever would outlast its 8 hours."""
    if isinstance(by, DelegateIdentity):
        raise PermissionDenied(f"A delegate cannot {what}.", reason="DELEGATE_NOT_ALLOWED")
