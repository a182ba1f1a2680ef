"""``/v1.0/customers``: every customer, for platform superadmins."""

from __future__ import annotations

from fastapi import APIRouter

from vbauth.api.deps import CurrentIdentity, ResourceId, RuntimeDep, SessionDep
from vbauth.api.openapi import errors
from vbauth.api.pagination import PageDep
from vbauth.schemas import (
    CustomerAdminOut,
    CustomerCreate,
    CustomerUpdate,
    PageOut,
)
from vbauth.services import customers, lifecycle

router = APIRouter(prefix="/v1.0/customers", tags=["customers"])


@router.get("")
async def list_customers(
    me: CurrentIdentity, session: SessionDep, page: PageDep
) -> PageOut[CustomerAdminOut]:
    """Customers, newest first."""
    items = await customers.list_page(session, by=me, page=page)
    return PageOut[CustomerAdminOut].of(items, CustomerAdminOut)


@router.post("", responses=errors(409))
async def create_customer(
    body: CustomerCreate, me: CurrentIdentity, session: SessionDep, runtime: RuntimeDep
) -> CustomerAdminOut:
    """Create an active customer and its first admin agent (username = email); answers the
    customer, as VoIPBIN does (`vbauth customer create` also shows the agent)."""
    fields = body.model_dump(exclude={"email", "admin_password"})
    customer, _admin = await customers.create(
        session,
        by=me,
        passwords=runtime.passwords,
        email=body.email,
        admin_password=body.admin_password,
        **fields,
    )
    return CustomerAdminOut.model_validate(customer)  # the admin: GET /v1.0/agents


@router.get("/{customer_id}")
async def get_customer(
    customer_id: ResourceId, me: CurrentIdentity, session: SessionDep
) -> CustomerAdminOut:
    customer = await customers.get(session, by=me, customer_id=customer_id)
    return CustomerAdminOut.model_validate(customer)


@router.put("/{customer_id}", responses=errors(409))
async def update_customer(
    customer_id: ResourceId,
    body: CustomerUpdate,
    me: CurrentIdentity,
    session: SessionDep,
    runtime: RuntimeDep,
) -> CustomerAdminOut:
    """Change a customer; fields left out stay as they were."""
    customer = await customers.get(session, by=me, customer_id=customer_id)
    changes = body.model_dump(exclude_unset=True, exclude_none=True)
    customer = await customers.update(
        session, customer=customer, changes=changes, public_url=runtime.settings.public_url
    )
    return CustomerAdminOut.model_validate(customer)


@router.delete("/{customer_id}", responses=errors(409))
async def delete_customer(
    customer_id: ResourceId, me: CurrentIdentity, session: SessionDep
) -> CustomerAdminOut:
    """Soft-delete a customer; its agents and their credentials stop working at once."""
    customer = await customers.delete(session, by=me, customer_id=customer_id)
    return CustomerAdminOut.model_validate(customer)


@router.post("/{customer_id}/freeze", responses=errors(409))
async def freeze_customer(
    customer_id: ResourceId, me: CurrentIdentity, session: SessionDep
) -> CustomerAdminOut:
    """Freeze a customer: its credentials get 403 ``ACCOUNT_FROZEN`` until it is recovered,
    and its data is erased after 30 days."""
    customer = await lifecycle.freeze_customer(session, by=me, customer_id=customer_id)
    return CustomerAdminOut.model_validate(customer)


@router.post("/{customer_id}/recover")
async def recover_customer(
    customer_id: ResourceId, me: CurrentIdentity, session: SessionDep
) -> CustomerAdminOut:
    """Recover a frozen customer (400 ``NOT_FROZEN`` otherwise)."""
    customer = await lifecycle.recover_customer(session, by=me, customer_id=customer_id)
    return CustomerAdminOut.model_validate(customer)
