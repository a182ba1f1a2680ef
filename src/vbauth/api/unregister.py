"""``POST``/``DELETE /auth/unregister``: a customer closes its own account, or takes it back."""

from __future__ import annotations

from fastapi import APIRouter

from vbauth.api.deps import RuntimeDep, SameSiteOnly, SessionDep, UnregisteringIdentity
from vbauth.api.openapi import errors
from vbauth.schemas import CustomerOut, UnregisterIn
from vbauth.services import lifecycle

router = APIRouter(prefix="/auth", tags=["auth"])


@router.post("/unregister", dependencies=[SameSiteOnly])
async def unregister(
    body: UnregisterIn, me: UnregisteringIdentity, runtime: RuntimeDep
) -> CustomerOut:
    """Freeze the caller's customer: 30 days to recover it, then its data is erased.

    Send exactly one of ``password`` (the calling admin's) and ``confirmation_phrase``
    (``"DELETE"``; accesskeys have no password). ``immediate: true`` erases it now.
    """
    await lifecycle.confirm_unregister(
        runtime.reads,
        by=me,
        passwords=runtime.passwords,
        throttle=runtime.login_throttle,
        password=body.password,
        confirmation_phrase=body.confirmation_phrase,
    )
    async with runtime.transaction() as session:
        customer = await lifecycle.unregister(session, by=me, immediate=body.immediate)
        return CustomerOut.model_validate(customer)


@router.delete("/unregister", dependencies=[SameSiteOnly], responses=errors(400))
async def recover_unregistered(me: UnregisteringIdentity, session: SessionDep) -> CustomerOut:
    """Take back a frozen customer within its 30 days (400 if it is not frozen)."""
    customer = await lifecycle.undo_unregister(session, by=me)
    return CustomerOut.model_validate(customer)
