"""GET /v1.0/me and /v1.0/customer answered from the front layer's cache: never stale after a
write, never to the wrong caller, never past a revocation."""

from __future__ import annotations

import httpx
import pytest

from tests.factories import (
    assert_error,
    bearer,
    login,
    make_accesskey,
    make_agent,
    make_customer,
)
from vbauth.permissions import Permission
from vbauth.runtime import Runtime

pytestmark = pytest.mark.anyio


async def test_a_cached_me_is_served_from_the_cache_until_a_write_changes_it(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    tenant = await make_customer(runtime)
    headers = bearer(await login(client, tenant.admin.username))
    first = await client.get("/v1.0/me", headers=headers)
    assert first.status_code == 200
    assert runtime.records.get(("me", tenant.admin.id)) == first.content  # kept by the route
    again = await client.get("/v1.0/me", headers=headers)
    assert again.content == first.content
    assert again.headers["content-type"] == "application/json"
    assert first.headers["cache-control"] == again.headers["cache-control"] == "no-store"
    assert "password_hash" not in first.text
    assert again.headers["x-request-id"] != first.headers["x-request-id"]

    renamed = await client.put(
        f"/v1.0/agents/{tenant.admin.id}", headers=headers, json={"name": "Renamed"}
    )
    assert renamed.status_code == 200, renamed.text
    assert (await client.get("/v1.0/me", headers=headers)).json()["name"] == "Renamed"


async def test_each_caller_gets_its_own_body(client: httpx.AsyncClient, runtime: Runtime) -> None:
    tenant = await make_customer(runtime)
    other = await make_agent(runtime, tenant.customer.id)
    admin_headers = bearer(await login(client, tenant.admin.username))
    agent_headers = bearer(await login(client, other.username))
    for _ in range(2):  # the second round is answered from the cache
        assert (await client.get("/v1.0/me", headers=admin_headers)).json()["id"] == str(
            tenant.admin.id
        )
        assert (await client.get("/v1.0/me", headers=agent_headers)).json()["id"] == str(other.id)


async def test_a_cached_customer_is_not_given_to_a_caller_without_the_right(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    tenant = await make_customer(runtime)
    key = await make_accesskey(runtime, tenant.customer.id)
    plain = await make_agent(runtime, tenant.customer.id, permission=Permission.CUSTOMER_AGENT)
    owner = await client.get("/v1.0/customer", params={"accesskey": key})
    assert owner.status_code == 200
    assert runtime.records.get(("customer", tenant.customer.id)) is not None
    refused = await client.get(
        "/v1.0/customer", headers=bearer(await login(client, plain.username))
    )
    assert_error(refused, 403, "PERMISSION_DENIED")


async def test_a_revoked_credential_is_refused_though_its_body_is_cached(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    tenant = await make_customer(runtime)
    token = await login(client, tenant.admin.username)
    assert (await client.get("/v1.0/me", headers=bearer(token))).status_code == 200
    assert (await client.post("/auth/logout", headers=bearer(token))).status_code == 200
    assert_error(await client.get("/v1.0/me", headers=bearer(token)), 401, "INVALID_CREDENTIALS")


async def test_no_credential_and_a_direct_token_still_get_the_routes_errors(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    tenant = await make_customer(runtime)
    assert (
        await client.get("/v1.0/me", headers=bearer(await login(client, tenant.admin.username)))
    ).status_code == 200
    assert_error(await client.get("/v1.0/me"), 401, "AUTHENTICATION_REQUIRED")
    key = await make_accesskey(runtime, tenant.customer.id)
    assert_error(
        await client.get("/v1.0/me", params={"accesskey": key}), 403, "AGENT_AUTH_REQUIRED"
    )


async def test_a_read_racing_a_write_does_not_cache_the_old_body(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    tenant = await make_customer(runtime)
    headers = bearer(await login(client, tenant.admin.username))
    generation = runtime.records.generation
    async with runtime.transaction():
        pass  # a write commits between a read's start and its end
    runtime.records.put(("me", tenant.admin.id), b"old", ttl=60, generation=generation)
    assert runtime.records.get(("me", tenant.admin.id)) is None
    assert (await client.get("/v1.0/me", headers=headers)).json()["id"] == str(tenant.admin.id)
