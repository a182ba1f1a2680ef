"""``/v1.0/customer``: the caller's own customer."""

from __future__ import annotations

from fastapi import APIRouter, Response

from vbauth.api.cached_reads import customer_key
from vbauth.api.deps import CurrentIdentity, RuntimeDep, SessionDep
from vbauth.api.openapi import errors
from vbauth.api.responses import json_of, remember
from vbauth.schemas import CustomerSelfOut, CustomerUpdate
from vbauth.services import customers

router = APIRouter(prefix="/v1.0", tags=["customer"])


@router.get("/customer", response_model=CustomerSelfOut)
async def get_own_customer(me: CurrentIdentity, runtime: RuntimeDep) -> Response:
    """The caller's customer, with its webhook secret; admins and managers."""
    generation = runtime.records.generation
    row = await customers.read_own(runtime.reads, by=me)
    response = json_of(CustomerSelfOut.model_validate(row))
    remember(runtime, customer_key(me), response, generation)
    return response


@router.put("/customer", responses=errors(409))
async def update_own_customer(
    body: CustomerUpdate, me: CurrentIdentity, session: SessionDep, runtime: RuntimeDep
) -> CustomerSelfOut:
    """Change the caller's customer; fields left out stay as they were. Admins only."""
    changes = body.model_dump(exclude_unset=True, exclude_none=True)
    customer = await customers.update_own(
        session, by=me, changes=changes, public_url=runtime.settings.public_url
    )
    return CustomerSelfOut.model_validate(customer)
