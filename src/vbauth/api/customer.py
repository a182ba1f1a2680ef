"""``/v1.0/customer``: the caller's own customer."""

from __future__ import annotations

from fastapi import APIRouter

from vbauth.api.deps import CurrentIdentity, RuntimeDep, SessionDep
from vbauth.schemas import CustomerSelfOut, CustomerUpdate
from vbauth.services import customers

router = APIRouter(prefix="/v1.0", tags=["customer"])


@router.get("/customer")
async def get_customer(me: CurrentIdentity, session: SessionDep) -> CustomerSelfOut:
    """The caller's customer, with its webhook secret; admins and managers."""
    customer = await customers.get_own(session, by=me)
    return CustomerSelfOut.model_validate(customer)


@router.put("/customer")
async def update_customer(
    body: CustomerUpdate, me: CurrentIdentity, session: SessionDep, runtime: RuntimeDep
) -> CustomerSelfOut:
    """Change the caller's customer; fields left out stay as they were. Admins only."""
    changes = body.model_dump(exclude_unset=True, exclude_none=True)
    customer = await customers.update_own(
        session, by=me, changes=changes, public_url=runtime.settings.public_url
    )
    return CustomerSelfOut.model_validate(customer)
