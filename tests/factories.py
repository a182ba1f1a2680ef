"""Plain functions that make test data through vbauth's own services and HTTP API."""

from __future__ import annotations

import itertools
import uuid
from dataclasses import dataclass

import httpx

from vbauth.models import Agent, Customer, Direct
from vbauth.permissions import Permission
from vbauth.runtime import Runtime
from vbauth.security.keys import new_direct_hash
from vbauth.services import accesskeys, agents, customers, operator

PASSWORD = "correct horse battery staple"
_counter = itertools.count()


def unique_email(prefix: str = "user") -> str:
    return f"{prefix}{next(_counter)}-{uuid.uuid4().hex[:6]}@example.com"


@dataclass
class Tenant:
    customer: Customer
    admin: Agent


async def make_customer(
    runtime: Runtime, *, status: str = "active", email: str | None = None
) -> Tenant:
    """A customer with its first admin, whose password is ``PASSWORD``."""
    async with runtime.transaction() as session:
        customer, admin = await customers.create(
            session,
            by=None,
            passwords=runtime.passwords,
            email=email or unique_email("admin"),
            admin_password=PASSWORD,
            status=status,
        )
    return Tenant(customer, admin)


async def make_agent(
    runtime: Runtime,
    customer_id: uuid.UUID,
    *,
    permission: int = Permission.CUSTOMER_AGENT,
    username: str | None = None,
) -> Agent:
    async with runtime.transaction() as session:
        return await agents.insert(
            session,
            passwords=runtime.passwords,
            customer_id=customer_id,
            username=username or unique_email("agent"),
            password=PASSWORD,
            permission=permission,
        )


async def make_superadmin(runtime: Runtime) -> Agent:
    async with runtime.transaction() as session:
        agent, _created = await operator.bootstrap_superadmin(
            session,
            passwords=runtime.passwords,
            username=unique_email("root"),
            password=PASSWORD,
        )
    return agent


async def login(client: httpx.AsyncClient, username: str, password: str = PASSWORD) -> str:
    response = await client.post("/auth/login", json={"username": username, "password": password})
    assert response.status_code == 200, response.text
    client.cookies.clear()  # tests choose how each request carries its credential
    return str(response.json()["token"])


async def signed_in_admin(
    client: httpx.AsyncClient, runtime: Runtime
) -> tuple[Tenant, dict[str, str]]:
    """A new customer, and Bearer headers of its first admin."""
    tenant = await make_customer(runtime)
    return tenant, bearer(await login(client, tenant.admin.username))


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def assert_error(response: httpx.Response, status: int, reason: str) -> dict[str, object]:
    """The response is the reference's error envelope with this status and reason."""
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert error["reason"] == reason, error
    assert error["request_id"] == response.headers["x-request-id"]
    assert set(error) <= {"status", "reason", "message", "request_id", "details"}
    return error  # type: ignore[no-any-return]


async def make_accesskey(
    runtime: Runtime, customer_id: uuid.UUID, *, expire: int | None = None
) -> str:
    async with runtime.transaction() as session:
        _key, token = await accesskeys.insert(
            session, customer_id=customer_id, name="test", detail="", expire=expire
        )
    return token


async def make_direct(
    runtime: Runtime,
    customer_id: uuid.UUID,
    *,
    resource_type: str = "ai",
    resource_id: uuid.UUID | None = None,
) -> Direct:
    async with runtime.transaction() as session:
        direct = Direct(
            customer_id=customer_id,
            resource_type=resource_type,
            resource_id=resource_id or uuid.uuid4(),
            hash=new_direct_hash(),
        )
        session.add(direct)
    return direct


async def boot(client: httpx.AsyncClient, direct_hash: str) -> str:
    response = await client.post("/auth/boot", json={"direct_hash": direct_hash})
    assert response.status_code == 200, response.text
    return str(response.json()["token"])
