"""Rules that hold under concurrency, because the database enforces them."""

from __future__ import annotations

import anyio
import httpx
import pytest

from tests.factories import PASSWORD, bearer, login, make_agent, make_customer, unique_email
from vbauth.runtime import Runtime

pytestmark = pytest.mark.anyio


async def _all(*requests):  # type: ignore[no-untyped-def]
    results: list[httpx.Response] = []

    async def run(request) -> None:  # type: ignore[no-untyped-def]
        results.append(await request)

    async with anyio.create_task_group() as group:
        for request in requests:
            group.start_soon(run, request)
    return sorted(response.status_code for response in results)


async def test_two_admins_demoting_each_other_leave_one_admin(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    tenant = await make_customer(runtime)
    second = await make_agent(runtime, tenant.customer.id, permission=32)
    first_headers = bearer(await login(client, tenant.admin.username))
    second_headers = bearer(await login(client, second.username))
    statuses = await _all(
        client.put(
            f"/v1.0/agents/{second.id}/permission", json={"permission": 16}, headers=first_headers
        ),
        client.put(
            f"/v1.0/agents/{tenant.admin.id}/permission",
            json={"permission": 16},
            headers=second_headers,
        ),
    )
    assert statuses in ([200, 409], [200, 401], [200, 403])
    remaining = await client.get("/v1.0/agents", headers=first_headers)
    if remaining.status_code != 200:
        remaining = await client.get("/v1.0/agents", headers=second_headers)
    admins = [a for a in remaining.json()["result"] if a["permission"] & 32]
    assert len(admins) == 1


async def test_the_same_username_created_twice_at_once_exists_once(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    tenant = await make_customer(runtime)
    headers = bearer(await login(client, tenant.admin.username))
    body = {"username": unique_email("race"), "password": PASSWORD}
    statuses = await _all(
        *[client.post("/v1.0/agents", json=body, headers=headers) for _ in range(4)]
    )
    assert statuses == [200, 409, 409, 409]
