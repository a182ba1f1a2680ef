"""``/v1.0/service_agents/*``: VoIPBIN's self-service for agents (issue 12, point 1)."""

from __future__ import annotations

import httpx
import pytest

from tests.factories import (
    PASSWORD,
    assert_error,
    bearer,
    login,
    make_accesskey,
    make_agent,
    make_customer,
)
from vbauth.runtime import Runtime

pytestmark = pytest.mark.anyio


async def test_a_plain_agent_reads_and_changes_itself_and_nothing_more(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    tenant = await make_customer(runtime)
    agent = await make_agent(runtime, tenant.customer.id, permission=16)
    token = await login(client, agent.username)
    other_session = await login(client, agent.username)
    me = await client.get("/v1.0/service_agents/me", headers=bearer(token))
    assert (me.status_code, me.json()["id"]) == (200, str(agent.id))

    renamed = await client.put(
        "/v1.0/service_agents/me", headers=bearer(token), json={"name": "Front desk"}
    )
    assert (renamed.status_code, renamed.json()["name"]) == (200, "Front desk")
    assert renamed.json()["permission"] == 16

    customer = await client.get("/v1.0/service_agents/customer", headers=bearer(token))
    assert customer.status_code == 200
    assert customer.json()["id"] == str(tenant.customer.id)
    assert "webhook_secret" not in customer.json()

    changed = await client.put(
        "/v1.0/service_agents/me/password",
        headers=bearer(token),
        json={"password": "a fresh password", "current_password": PASSWORD},
    )
    assert changed.status_code == 200, changed.text
    assert (await client.get("/v1.0/me", headers=bearer(other_session))).status_code == 401
    assert (await client.get("/v1.0/me", headers=bearer(token))).status_code == 200

    # Its own record, never its own rights.
    assert_error(
        await client.put(
            f"/v1.0/agents/{agent.id}/permission", headers=bearer(token), json={"permission": 32}
        ),
        403,
        "PERMISSION_DENIED",
    )


async def test_service_agent_routes_are_for_agents_only(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    tenant = await make_customer(runtime)
    key = await make_accesskey(runtime, tenant.customer.id)
    for path in ("/v1.0/service_agents/me", "/v1.0/service_agents/customer"):
        assert_error(await client.get(path), 401, "AUTHENTICATION_REQUIRED")
        assert_error(await client.get(path, headers=bearer(key)), 403, "AGENT_AUTH_REQUIRED")
