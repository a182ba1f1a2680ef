"""Direct hashes, boot, and what a direct token may reach (reference §1.6, §6; design §6.7)."""

from __future__ import annotations

import re
import uuid
from datetime import timedelta

import httpx
import jwt
import pytest

from tests.factories import (
    assert_error,
    bearer,
    boot,
    login,
    make_accesskey,
    make_agent,
    make_customer,
    make_direct,
    signed_in_admin,
)
from vbauth import clock
from vbauth.models import Customer
from vbauth.runtime import Runtime

pytestmark = pytest.mark.anyio

HASH = re.compile(r"direct\.[0-9a-f]{32}")


async def test_admins_create_list_get_regenerate_and_delete_hashes(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    tenant, headers = await signed_in_admin(client, runtime)
    ai = str(uuid.uuid4())
    created = await client.post(
        "/v1.0/directs", json={"resource_type": "ai", "resource_id": ai}, headers=headers
    )
    assert created.status_code == 200, created.text
    direct = created.json()
    assert HASH.fullmatch(direct["hash"])
    assert (direct["resource_type"], direct["resource_id"]) == ("ai", ai)
    assert direct["customer_id"] == str(tenant.customer.id)

    other = await client.post(
        "/v1.0/directs",
        headers=headers,
        json={"resource_type": "ai_team", "resource_id": str(uuid.uuid4())},
    )
    listed = await client.get("/v1.0/directs", headers=headers)
    assert [d["id"] for d in listed.json()["result"]] == [other.json()["id"], direct["id"]]
    filtered = await client.get("/v1.0/directs", params={"resource_id": ai}, headers=headers)
    assert [d["id"] for d in filtered.json()["result"]] == [direct["id"]]
    filtered = await client.get(
        "/v1.0/directs", params={"resource_type": "ai_team"}, headers=headers
    )
    assert [d["id"] for d in filtered.json()["result"]] == [other.json()["id"]]

    fetched = await client.get(f"/v1.0/directs/{direct['id']}", headers=headers)
    assert fetched.json() == direct
    regenerated = await client.post(f"/v1.0/directs/{direct['id']}/regenerate", headers=headers)
    assert HASH.fullmatch(regenerated.json()["hash"])
    assert regenerated.json()["hash"] != direct["hash"]
    deleted = await client.delete(f"/v1.0/directs/{direct['id']}", headers=headers)
    assert deleted.json()["tm_delete"] is not None
    assert_error(
        await client.get(f"/v1.0/directs/{direct['id']}", headers=headers), 404, "DIRECT_NOT_FOUND"
    )


async def test_one_hash_per_resource(client: httpx.AsyncClient, runtime: Runtime) -> None:
    _, headers = await signed_in_admin(client, runtime)
    body = {"resource_type": "ai", "resource_id": str(uuid.uuid4())}
    assert (await client.post("/v1.0/directs", json=body, headers=headers)).status_code == 200
    assert_error(
        await client.post("/v1.0/directs", json=body, headers=headers), 409, "DIRECT_ALREADY_EXISTS"
    )


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        ({"resource_type": "spaceship", "resource_id": str(uuid.uuid4())}, "INVALID_ARGUMENT"),
        ({"resource_type": "ai", "resource_id": str(uuid.UUID(int=0))}, "INVALID_ARGUMENT"),
        ({"resource_type": "ai", "resource_id": "not-a-uuid"}, "INVALID_JSON_BODY"),
        ({"resource_type": "ai"}, "INVALID_ARGUMENT"),
        ({"resource_type": 5, "resource_id": str(uuid.uuid4())}, "INVALID_JSON_BODY"),
    ],
)
async def test_bad_direct_bodies_are_400(
    client: httpx.AsyncClient, runtime: Runtime, body: dict[str, object], reason: str
) -> None:
    _, headers = await signed_in_admin(client, runtime)
    assert_error(await client.post("/v1.0/directs", json=body, headers=headers), 400, reason)


async def test_managers_and_keys_manage_hashes_and_agents_do_not(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    tenant = await make_customer(runtime)
    manager = await make_agent(runtime, tenant.customer.id, permission=64)
    agent = await make_agent(runtime, tenant.customer.id, permission=16)
    key = await make_accesskey(runtime, tenant.customer.id)
    body = lambda: {"resource_type": "ai", "resource_id": str(uuid.uuid4())}  # noqa: E731
    for headers in (bearer(await login(client, manager.username)), bearer(key)):
        assert (await client.post("/v1.0/directs", json=body(), headers=headers)).status_code == 200
    headers = bearer(await login(client, agent.username))
    assert_error(
        await client.post("/v1.0/directs", json=body(), headers=headers), 403, "PERMISSION_DENIED"
    )
    assert_error(await client.get("/v1.0/directs", headers=headers), 403, "PERMISSION_DENIED")


async def test_another_customers_hash_is_not_found(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    _, headers = await signed_in_admin(client, runtime)
    foreign = await make_direct(runtime, (await make_customer(runtime)).customer.id)
    for method, path in [("GET", ""), ("DELETE", ""), ("POST", "/regenerate")]:
        response = await client.request(
            method, f"/v1.0/directs/{foreign.id}{path}", headers=headers
        )
        assert_error(response, 404, "DIRECT_NOT_FOUND")
    listed = await client.get("/v1.0/directs", headers=headers)
    assert foreign.hash not in listed.text


async def test_boot_gives_a_four_hour_token_scoped_to_the_resource(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    tenant = await make_customer(runtime)
    direct = await make_direct(runtime, tenant.customer.id, resource_type="ai")
    before = clock.now()
    response = await client.post(
        "/auth/boot",
        headers={"Content-Type": "application/json"},
        content=f'{{"direct_hash": "{direct.hash}"}}',
    )
    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"token", "type", "resource_type", "resource_id", "customer_id", "expire"}
    assert (body["type"], body["resource_type"]) == ("direct", "ai")
    assert body["resource_id"] == str(direct.resource_id)
    assert body["customer_id"] == str(tenant.customer.id)
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z", body["expire"])
    lifetime = clock.parse_timestamp(body["expire"]) - before
    assert timedelta(hours=4) - timedelta(seconds=5) < lifetime <= timedelta(hours=4, seconds=1)
    claims = jwt.decode(body["token"], options={"verify_signature": False})
    assert (claims["typ"], claims["sub"]) == ("direct", str(direct.id))
    assert claims["exp"] - claims["iat"] == 14400


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"direct_hash": ""},
        {"direct_hash": "abc"},
        {"direct_hash": "DIRECT.abc"},
        {"direct_hash": "direct." + "0" * 32},
        {"direct_hash": 5},
        {"direct_hash": None},
        {"direct_hash": "direct." + "a" * 5000},
    ],
)
async def test_boot_refuses_bad_hashes_with_400(
    client: httpx.AsyncClient, body: dict[str, object]
) -> None:
    response = await client.post("/auth/boot", json=body)
    assert response.status_code == 400
    assert response.json()["error"]["reason"] in ("INVALID_ARGUMENT", "INVALID_JSON_BODY")


async def test_boot_refuses_customers_that_are_not_active_and_types_that_cannot_boot(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    for status in ("initial", "frozen", "expired"):
        tenant = await make_customer(runtime, status=status)
        direct = await make_direct(runtime, tenant.customer.id)
        error = assert_error(
            await client.post("/auth/boot", json={"direct_hash": direct.hash}),
            400,
            "INVALID_ARGUMENT",
        )
        assert "not active" in str(error["message"])
    tenant = await make_customer(runtime)
    for kind in ("agent", "queue", "conference", "extension"):
        direct = await make_direct(runtime, tenant.customer.id, resource_type=kind)
        error = assert_error(
            await client.post("/auth/boot", json={"direct_hash": direct.hash}),
            400,
            "INVALID_ARGUMENT",
        )
        assert "cannot boot" in str(error["message"])
    widget = await make_direct(runtime, tenant.customer.id, resource_type="webchat_widget")
    assert (await client.post("/auth/boot", json={"direct_hash": widget.hash})).status_code == 200


async def test_a_direct_token_reaches_none_of_vbauths_own_endpoints(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    tenant = await make_customer(runtime)
    direct = await make_direct(runtime, tenant.customer.id)
    headers = bearer(await boot(client, direct.hash))
    for method, path in [
        ("GET", "/v1.0/accesskeys"),
        ("POST", "/v1.0/accesskeys"),
        ("GET", "/v1.0/agents"),
        ("GET", "/v1.0/customer"),
        ("GET", "/v1.0/directs"),
        ("POST", "/v1.0/directs"),
        ("GET", f"/v1.0/directs/{direct.id}"),
        ("GET", "/v1.0/customers"),
    ]:
        response = await client.request(
            method, path, headers=headers, json={} if method == "POST" else None
        )
        assert_error(response, 403, "DIRECT_ACCESS_NOT_SUPPORTED")
    # /v1.0/me is an agent's: VoIPBIN's reason, whatever else the caller is (issue 12).
    assert_error(await client.get("/v1.0/me", headers=headers), 403, "AGENT_AUTH_REQUIRED")


async def test_regenerating_or_deleting_the_hash_revokes_its_tokens(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    tenant, headers = await signed_in_admin(client, runtime)
    for action in ("regenerate", "delete"):
        direct = await make_direct(runtime, tenant.customer.id)
        token = {"token": await boot(client, direct.hash)}
        assert (await client.get("/v1.0/aicalls", params=token)).status_code == 200  # cached
        if action == "regenerate":
            await client.post(f"/v1.0/directs/{direct.id}/regenerate", headers=headers)
        else:
            await client.delete(f"/v1.0/directs/{direct.id}", headers=headers)
        assert_error(await client.get("/v1.0/aicalls", params=token), 401, "INVALID_CREDENTIALS")
        response = await client.post("/auth/boot", json={"direct_hash": direct.hash})
        assert_error(response, 400, "INVALID_ARGUMENT")


async def test_a_direct_token_of_a_deleted_customer_stops(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    tenant = await make_customer(runtime)
    direct = await make_direct(runtime, tenant.customer.id)
    token = {"token": await boot(client, direct.hash)}
    async with runtime.transaction() as session:
        customer = await session.get(Customer, tenant.customer.id)
        assert customer is not None
        customer.status, customer.tm_delete = "deleted", clock.now()
    runtime.authenticator.identity_cache.invalidate()
    assert_error(await client.get("/v1.0/aicalls", params=token), 401, "INVALID_CREDENTIALS")


async def test_the_widget_flow_end_to_end(client: httpx.AsyncClient, runtime: Runtime) -> None:
    """An admin makes a hash for an AI; an anonymous client boots it and talks to that AI only."""
    tenant, admin = await signed_in_admin(client, runtime)
    ai, other_ai = str(uuid.uuid4()), str(uuid.uuid4())
    created = await client.post(
        "/v1.0/directs", json={"resource_type": "ai", "resource_id": ai}, headers=admin
    )
    other_aicall = await client.post(
        "/v1.0/aicalls", headers=admin, json={"assistance_type": "ai", "assistance_id": other_ai}
    )
    assert other_aicall.status_code == 200

    widget = {"token": await boot(client, created.json()["hash"])}
    mine = await client.post("/v1.0/aicalls", params=widget, json={})
    assert mine.status_code == 200, mine.text
    assert (mine.json()["assistance_type"], mine.json()["assistance_id"]) == ("ai", ai)
    assert mine.json()["customer_id"] == str(tenant.customer.id)
    forced = await client.post(
        "/v1.0/aicalls", params=widget, json={"assistance_type": "ai", "assistance_id": other_ai}
    )
    assert forced.json()["assistance_id"] == ai  # the body cannot point it elsewhere

    listed = await client.get("/v1.0/aicalls", params=widget)
    assert {a["id"] for a in listed.json()["result"]} == {mine.json()["id"], forced.json()["id"]}
    assert (
        await client.get(f"/v1.0/aicalls/{mine.json()['id']}", params=widget)
    ).status_code == 200
    response = await client.get(f"/v1.0/aicalls/{other_aicall.json()['id']}", params=widget)
    assert_error(response, 403, "PERMISSION_DENIED")
    foreign = await client.post(
        "/v1.0/aicalls",
        json={"assistance_type": "ai", "assistance_id": ai},
        headers=bearer(await login(client, (await make_customer(runtime)).admin.username)),
    )
    response = await client.get(f"/v1.0/aicalls/{foreign.json()['id']}", params=widget)
    assert_error(response, 404, "AICALL_NOT_FOUND")
    assert_error(await client.get("/v1.0/calls", params=widget), 403, "DIRECT_ACCESS_NOT_SUPPORTED")
    assert_error(
        await client.get("/v1.0/accesskeys", params=widget), 403, "DIRECT_ACCESS_NOT_SUPPORTED"
    )
    # The admin sees every aicall of the customer.
    everything = await client.get("/v1.0/aicalls", headers=admin)
    assert len(everything.json()["result"]) == 3


async def test_the_demo_reads_json_whatever_the_content_type(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    """``curl --data-raw '{}'`` sends a form Content-Type; VoIPBIN services read JSON anyway."""
    tenant = await make_customer(runtime)
    direct = await make_direct(runtime, tenant.customer.id)
    token = await boot(client, direct.hash)
    response = await client.post(
        "/v1.0/aicalls",
        params={"token": token},
        content=b"{}",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert response.status_code == 200, response.text


async def test_an_agents_direct_hash_is_made_shown_and_replaced(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    tenant, headers = await signed_in_admin(client, runtime)
    agent = await make_agent(runtime, tenant.customer.id)
    agent_headers = bearer(await login(client, agent.username))
    path = f"/v1.0/agents/{agent.id}"
    assert (await client.get(path, headers=headers)).json()["direct_hash"] == ""
    assert (await client.get("/v1.0/me", headers=agent_headers)).json()["direct_hash"] == ""

    made = await client.post(f"{path}/direct-hash-regenerate", headers=headers)
    assert made.status_code == 200, made.text
    first = made.json()["direct_hash"]
    assert HASH.fullmatch(first) and made.json()["id"] == str(agent.id)
    assert (await client.get(path, headers=headers)).json()["direct_hash"] == first
    assert (await client.get("/v1.0/me", headers=agent_headers)).json()["direct_hash"] == first
    listed = (await client.get("/v1.0/agents", headers=headers)).json()["result"]
    assert {a["id"]: a["direct_hash"] for a in listed}[str(agent.id)] == first
    directs = (await client.get("/v1.0/directs", headers=headers)).json()["result"]
    assert [(d["resource_type"], d["resource_id"], d["hash"]) for d in directs] == [
        ("agent", str(agent.id), first)
    ]

    second = (await client.post(f"{path}/direct-hash-regenerate", headers=headers)).json()
    assert HASH.fullmatch(second["direct_hash"]) and second["direct_hash"] != first
    directs = (await client.get("/v1.0/directs", headers=headers)).json()["result"]
    assert [d["hash"] for d in directs] == [second["direct_hash"]]  # replaced, not added
    assert (await client.get("/v1.0/me", headers=agent_headers)).json()["direct_hash"] == (
        second["direct_hash"]
    )

    await client.delete(path, headers=headers)
    assert (await client.get("/v1.0/directs", headers=headers)).json()["result"] == []


async def test_regenerating_an_agents_hash_follows_the_right_to_manage_it(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    tenant = await make_customer(runtime)
    manager = await make_agent(runtime, tenant.customer.id, permission=64)
    agent = await make_agent(runtime, tenant.customer.id, permission=16)
    manager_headers = bearer(await login(client, manager.username))
    agent_headers = bearer(await login(client, agent.username))
    key_headers = bearer(await make_accesskey(runtime, tenant.customer.id))

    async def regenerate(agent_id: uuid.UUID, headers: dict[str, str]) -> httpx.Response:
        return await client.post(f"/v1.0/agents/{agent_id}/direct-hash-regenerate", headers=headers)

    for headers in (manager_headers, key_headers):
        response = await regenerate(agent.id, headers)
        assert response.status_code == 200, response.text
    assert_error(await regenerate(tenant.admin.id, manager_headers), 403, "PERMISSION_DENIED")
    assert_error(await regenerate(agent.id, agent_headers), 403, "PERMISSION_DENIED")
    stranger = await make_agent(runtime, (await make_customer(runtime)).customer.id)
    assert_error(await regenerate(stranger.id, key_headers), 404, "AGENT_NOT_FOUND")
    assert_error(await regenerate(uuid.uuid4(), key_headers), 404, "AGENT_NOT_FOUND")


async def test_agent_hashes_are_only_for_the_customers_own_live_agents(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    tenant, headers = await signed_in_admin(client, runtime)
    stranger = await make_agent(runtime, (await make_customer(runtime)).customer.id)
    for resource_id in (stranger.id, uuid.uuid4()):
        response = await client.post(
            "/v1.0/directs",
            json={"resource_type": "agent", "resource_id": str(resource_id)},
            headers=headers,
        )
        assert_error(response, 404, "AGENT_NOT_FOUND")
    own = await make_agent(runtime, tenant.customer.id)
    made = await client.post(
        "/v1.0/directs",
        json={"resource_type": "agent", "resource_id": str(own.id)},
        headers=headers,
    )
    assert made.status_code == 200, made.text
    shown = (await client.get(f"/v1.0/agents/{own.id}", headers=headers)).json()["direct_hash"]
    assert shown == made.json()["hash"]


async def test_one_customers_hash_does_not_block_anothers_for_the_same_resource_id(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    body = {"resource_type": "ai", "resource_id": str(uuid.uuid4())}
    for _ in range(2):
        _, headers = await signed_in_admin(client, runtime)
        response = await client.post("/v1.0/directs", json=body, headers=headers)
        assert response.status_code == 200, response.text
