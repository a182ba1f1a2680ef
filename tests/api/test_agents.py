"""/v1.0/agents: CRUD, tenancy, and no escalation (reference §5, design §6.6)."""

from __future__ import annotations

import uuid
from datetime import timedelta

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
    make_superadmin,
    unique_email,
)
from vbauth import clock
from vbauth.permissions import Permission
from vbauth.runtime import Runtime
from vbauth.services import operator
from vbauth.services.errors import AlreadyExists

pytestmark = pytest.mark.anyio

AGENT, ADMIN, MANAGER = 16, 32, 64


async def _as(
    client: httpx.AsyncClient,
    runtime: Runtime,
    permission: int,
    customer_id: uuid.UUID | None = None,
) -> tuple[dict[str, str], uuid.UUID]:
    """Headers of a fresh agent with ``permission`` (in a new customer unless given)."""
    if customer_id is None:
        customer_id = (await make_customer(runtime)).customer.id
    agent = await make_agent(runtime, customer_id, permission=permission)
    return bearer(await login(client, agent.username)), customer_id


def new_agent(**overrides: object) -> dict[str, object]:
    return {
        "username": unique_email("new"),
        "password": PASSWORD,
        "name": "New",
        "detail": "d",
        "ring_method": "linear",
        "permission": AGENT,
        "tag_ids": [],
        "addresses": [{"type": "tel", "target": "+14155551234"}],
        **overrides,
    }


async def test_an_admin_creates_reads_updates_and_deletes_an_agent(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    headers, customer_id = await _as(client, runtime, ADMIN)
    tag = str(uuid.uuid4())
    response = await client.post("/v1.0/agents", json=new_agent(tag_ids=[tag]), headers=headers)
    assert response.status_code == 200, response.text
    created = response.json()
    assert created["customer_id"] == str(customer_id)
    assert created["permission"] == AGENT
    assert created["tag_ids"] == [tag]
    assert created["addresses"][0]["target"] == "+14155551234"
    assert "password" not in created and "password_hash" not in created
    agent_id = created["id"]

    fetched = await client.get(f"/v1.0/agents/{agent_id}", headers=headers)
    assert fetched.json() == created

    updated = await client.put(
        f"/v1.0/agents/{agent_id}", json={"name": "Renamed"}, headers=headers
    )
    assert updated.json()["name"] == "Renamed"
    assert updated.json()["detail"] == "d"  # left out, so unchanged
    assert updated.json()["tm_update"] is not None

    deleted = await client.delete(f"/v1.0/agents/{agent_id}", headers=headers)
    assert deleted.json()["tm_delete"] is not None
    assert_error(
        await client.get(f"/v1.0/agents/{agent_id}", headers=headers), 404, "AGENT_NOT_FOUND"
    )


async def test_a_new_agent_can_log_in_with_its_password(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    headers, _ = await _as(client, runtime, ADMIN)
    body = new_agent()
    assert (await client.post("/v1.0/agents", json=body, headers=headers)).status_code == 200
    token = await login(client, str(body["username"]), PASSWORD)
    assert (await client.get("/v1.0/me", headers=bearer(token))).json()["username"] == body[
        "username"
    ]


async def test_usernames_are_unique_among_live_agents_without_case(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    headers, _ = await _as(client, runtime, ADMIN)
    body = new_agent()
    first = await client.post("/v1.0/agents", json=body, headers=headers)
    again = await client.post(
        "/v1.0/agents", json={**body, "username": str(body["username"]).upper()}, headers=headers
    )
    assert_error(again, 409, "AGENT_USERNAME_TAKEN")
    await client.delete(f"/v1.0/agents/{first.json()['id']}", headers=headers)
    reused = await client.post("/v1.0/agents", json=body, headers=headers)
    assert reused.status_code == 200  # a deleted agent's username is free again


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"username": "not-an-email"}, "INVALID_ARGUMENT"),
        ({"username": "a..b@example.com"}, "INVALID_ARGUMENT"),
        ({"password": "short"}, "INVALID_ARGUMENT"),
        ({"password": "x" * 1025}, "INVALID_ARGUMENT"),
        ({"permission": -1}, "INVALID_ARGUMENT"),
        ({"permission": 65536}, "INVALID_ARGUMENT"),
        ({"permission": 2**70}, "INVALID_ARGUMENT"),
        ({"permission": "32"}, "INVALID_JSON_BODY"),
        ({"permission": 32.0}, "INVALID_JSON_BODY"),
        ({"ring_method": "shout"}, "INVALID_ARGUMENT"),
        ({"tag_ids": ["not-a-uuid"]}, "INVALID_JSON_BODY"),
        ({"tag_ids": "x"}, "INVALID_JSON_BODY"),
        ({"addresses": [{"type": "pigeon"}]}, "INVALID_ARGUMENT"),
        ({"name": "x" * 256}, "INVALID_ARGUMENT"),
        ({"name": None}, "INVALID_JSON_BODY"),
    ],
)
async def test_bad_agent_bodies_are_400(
    client: httpx.AsyncClient, runtime: Runtime, change: dict[str, object], reason: str
) -> None:
    headers, _ = await _as(client, runtime, ADMIN)
    response = await client.post("/v1.0/agents", json=new_agent(**change), headers=headers)
    assert_error(response, 400, reason)


@pytest.mark.parametrize("path", ["not-a-uuid", "00000000-0000-0000-0000-000000000000", "1"])
async def test_bad_ids_are_invalid_id(
    client: httpx.AsyncClient, runtime: Runtime, path: str
) -> None:
    headers, _ = await _as(client, runtime, ADMIN)
    for method in ("GET", "PUT", "DELETE"):
        response = await client.request(
            method, f"/v1.0/agents/{path}", headers=headers, json={} if method == "PUT" else None
        )
        assert_error(response, 400, "INVALID_ID")


async def test_another_customers_agent_is_not_found(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    headers, _ = await _as(client, runtime, ADMIN)
    foreign = await make_customer(runtime)
    missing = uuid.uuid4()
    for agent_id in (foreign.admin.id, missing):
        for method, path, body in [
            ("GET", "", None),
            ("PUT", "", {"name": "pwned"}),
            ("DELETE", "", None),
            ("PUT", "/permission", {"permission": 16}),
            ("PUT", "/password", {"password": "pwned password"}),
        ]:
            response = await client.request(
                method, f"/v1.0/agents/{agent_id}{path}", json=body, headers=headers
            )
            error = assert_error(response, 404, "AGENT_NOT_FOUND")
            assert foreign.admin.username not in str(error)
    listed = await client.get("/v1.0/agents", headers=headers)
    assert str(foreign.admin.id) not in listed.text


async def test_plain_agents_manage_nothing(client: httpx.AsyncClient, runtime: Runtime) -> None:
    tenant = await make_customer(runtime)
    headers, _ = await _as(client, runtime, AGENT, tenant.customer.id)
    assert_error(await client.get("/v1.0/agents", headers=headers), 403, "PERMISSION_DENIED")
    response = await client.post("/v1.0/agents", json=new_agent(permission=0), headers=headers)
    assert_error(response, 403, "PERMISSION_DENIED")
    response = await client.get(f"/v1.0/agents/{tenant.admin.id}", headers=headers)
    assert_error(response, 403, "PERMISSION_DENIED")
    response = await client.put(
        f"/v1.0/agents/{tenant.admin.id}/password",
        json={"password": "taken over!"},
        headers=headers,
    )
    assert_error(response, 403, "PERMISSION_DENIED")


@pytest.mark.parametrize(
    ("granter", "permission", "allowed"),
    [
        (ADMIN, AGENT, True),
        (ADMIN, MANAGER, True),
        (ADMIN, ADMIN, True),
        (ADMIN, 240, True),
        (ADMIN, 1, False),
        (ADMIN, 15, False),
        (ADMIN, 65535, False),
        (ADMIN, 256, False),
        (MANAGER, AGENT, True),
        (MANAGER, MANAGER, True),
        (MANAGER, AGENT | MANAGER, True),
        (MANAGER, ADMIN, False),
        (MANAGER, 240, False),
        (MANAGER, 128, False),
        (MANAGER, 1, False),
        (MANAGER, 65535, False),
    ],
)
async def test_nobody_grants_bits_above_their_own(
    client: httpx.AsyncClient, runtime: Runtime, granter: int, permission: int, allowed: bool
) -> None:
    headers, customer_id = await _as(client, runtime, granter)
    created = await client.post(
        "/v1.0/agents", json=new_agent(permission=permission), headers=headers
    )
    target = await make_agent(runtime, customer_id, permission=AGENT)
    changed = await client.put(
        f"/v1.0/agents/{target.id}/permission", json={"permission": permission}, headers=headers
    )
    for response in (created, changed):
        if allowed:
            assert response.status_code == 200, response.text
            assert response.json()["permission"] == permission
        else:
            assert_error(response, 403, "PERMISSION_DENIED")


async def test_a_manager_cannot_touch_an_admin(client: httpx.AsyncClient, runtime: Runtime) -> None:
    tenant = await make_customer(runtime)
    headers, _ = await _as(client, runtime, MANAGER, tenant.customer.id)
    admin = tenant.admin.id
    attempts = [
        ("PUT", f"/v1.0/agents/{admin}/password", {"password": "taken over!"}),
        ("PUT", f"/v1.0/agents/{admin}/permission", {"permission": AGENT}),
        ("PUT", f"/v1.0/agents/{admin}", {"name": "x"}),
        ("DELETE", f"/v1.0/agents/{admin}", None),
    ]
    for method, path, body in attempts:
        response = await client.request(method, path, json=body, headers=headers)
        assert_error(response, 403, "PERMISSION_DENIED")
    assert (await client.get(f"/v1.0/agents/{admin}", headers=headers)).status_code == 200
    await login(client, tenant.admin.username, PASSWORD)  # the password is still the admin's


async def test_a_manager_cannot_promote_itself(client: httpx.AsyncClient, runtime: Runtime) -> None:
    tenant = await make_customer(runtime)
    manager = await make_agent(runtime, tenant.customer.id, permission=MANAGER)
    headers = bearer(await login(client, manager.username))
    response = await client.put(
        f"/v1.0/agents/{manager.id}/permission",
        json={"permission": ADMIN | MANAGER},
        headers=headers,
    )
    assert_error(response, 403, "PERMISSION_DENIED")


async def test_an_admin_cannot_touch_a_superadmin(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    root = await make_superadmin(runtime)
    headers, _ = await _as(client, runtime, ADMIN, root.customer_id)
    response = await client.put(
        f"/v1.0/agents/{root.id}/password", json={"password": "taken over!"}, headers=headers
    )
    assert_error(response, 403, "PERMISSION_DENIED")


async def test_the_last_admin_cannot_be_deleted_or_downgraded(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    tenant = await make_customer(runtime)
    headers = bearer(await login(client, tenant.admin.username))
    admin = tenant.admin.id
    response = await client.delete(f"/v1.0/agents/{admin}", headers=headers)
    assert_error(response, 409, "LAST_ADMIN")
    response = await client.put(
        f"/v1.0/agents/{admin}/permission", json={"permission": MANAGER}, headers=headers
    )
    assert_error(response, 409, "LAST_ADMIN")
    second = await make_agent(runtime, tenant.customer.id, permission=ADMIN)
    response = await client.put(
        f"/v1.0/agents/{admin}/permission", json={"permission": MANAGER}, headers=headers
    )
    assert response.status_code == 200
    second_headers = bearer(await login(client, second.username))
    response = await client.delete(f"/v1.0/agents/{second.id}", headers=second_headers)
    assert_error(response, 409, "LAST_ADMIN")


async def test_setting_a_password_ends_the_agents_other_sessions(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    tenant = await make_customer(runtime)
    agent = await make_agent(runtime, tenant.customer.id)
    agent_token = await login(client, agent.username)
    admin_headers = bearer(await login(client, tenant.admin.username))
    response = await client.put(
        f"/v1.0/agents/{agent.id}/password",
        json={"password": "a brand new one"},
        headers=admin_headers,
    )
    assert response.status_code == 200
    assert_error(
        await client.get("/v1.0/me", headers=bearer(agent_token)), 401, "INVALID_CREDENTIALS"
    )
    await login(client, agent.username, "a brand new one")
    response = await client.post(
        "/auth/login", json={"username": agent.username, "password": PASSWORD}
    )
    assert_error(response, 401, "INVALID_CREDENTIALS")


async def test_changing_your_own_password_keeps_your_session(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    tenant = await make_customer(runtime)
    token = await login(client, tenant.admin.username)
    other = await login(client, tenant.admin.username)
    response = await client.put(
        f"/v1.0/agents/{tenant.admin.id}/password",
        json={"password": "my new password"},
        headers=bearer(token),
    )
    assert response.status_code == 200
    assert (await client.get("/v1.0/me", headers=bearer(token))).status_code == 200
    assert_error(await client.get("/v1.0/me", headers=bearer(other)), 401, "INVALID_CREDENTIALS")


async def test_lists_page_newest_first_with_the_reference_envelope(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    tenant = await make_customer(runtime)
    made = [await make_agent(runtime, tenant.customer.id) for _ in range(4)]
    headers = bearer(await login(client, tenant.admin.username))
    seen: list[str] = []
    token = ""
    for _ in range(5):
        response = await client.get(
            "/v1.0/agents", params={"page_size": 2, "page_token": token}, headers=headers
        )
        body = response.json()
        assert set(body) == {"result", "next_page_token"}
        if not body["result"]:
            assert body["next_page_token"] == ""
            break
        assert body["next_page_token"] == body["result"][-1]["tm_create"]
        seen += [agent["id"] for agent in body["result"]]
        token = body["next_page_token"]
    expected = [str(agent.id) for agent in reversed(made)] + [str(tenant.admin.id)]
    assert seen == expected


@pytest.mark.parametrize(
    ("params", "reason"),
    [
        ({"page_size": "abc"}, "INVALID_REQUEST_PARAMETER"),
        ({"page_size": "1.5"}, "INVALID_REQUEST_PARAMETER"),
        ({"page_token": "yesterday"}, "INVALID_REQUEST_PARAMETER"),
        ({"page_token": "2026-01-01T00:00:00"}, "INVALID_REQUEST_PARAMETER"),
        ({"status": "sleeping"}, "INVALID_REQUEST_PARAMETER"),
    ],
)
async def test_bad_list_parameters_are_400(
    client: httpx.AsyncClient, runtime: Runtime, params: dict[str, str], reason: str
) -> None:
    headers, _ = await _as(client, runtime, ADMIN)
    error = assert_error(
        await client.get("/v1.0/agents", params=params, headers=headers), 400, reason
    )
    assert str(next(iter(params))) in str(error["message"])


async def test_out_of_range_page_sizes_mean_100(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    headers, _ = await _as(client, runtime, ADMIN)
    for size in ("0", "-5", "1000", str(2**80)):
        response = await client.get("/v1.0/agents", params={"page_size": size}, headers=headers)
        assert response.status_code == 200
        assert len(response.json()["result"]) == 2  # the first admin and the caller


async def test_lists_filter_by_status_and_tags(client: httpx.AsyncClient, runtime: Runtime) -> None:
    headers, _ = await _as(client, runtime, ADMIN)
    tag = str(uuid.uuid4())
    tagged = await client.post("/v1.0/agents", json=new_agent(tag_ids=[tag]), headers=headers)
    await client.post("/v1.0/agents", json=new_agent(), headers=headers)
    response = await client.get("/v1.0/agents", params={"tag_ids": f"{tag},other"}, headers=headers)
    assert [agent["id"] for agent in response.json()["result"]] == [tagged.json()["id"]]
    response = await client.get("/v1.0/agents", params={"status": "available"}, headers=headers)
    assert response.json()["result"] == []


async def test_a_superadmin_reaches_any_customers_agents(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    root = await make_superadmin(runtime)
    tenant = await make_customer(runtime)
    headers = bearer(await login(client, root.username))
    response = await client.get(f"/v1.0/agents/{tenant.admin.id}", headers=headers)
    assert response.status_code == 200
    response = await client.put(
        f"/v1.0/agents/{tenant.admin.id}/password",
        json={"password": "reset by support"},
        headers=headers,
    )
    assert response.status_code == 200


async def test_a_tag_filter_that_empties_a_page_still_pages_on(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    headers, _ = await _as(client, runtime, ADMIN)
    tag = str(uuid.uuid4())
    tagged = await client.post("/v1.0/agents", json=new_agent(tag_ids=[tag]), headers=headers)
    for _ in range(2):
        await client.post("/v1.0/agents", json=new_agent(), headers=headers)
    found, token = [], ""
    for _ in range(10):
        body = (
            await client.get(
                "/v1.0/agents",
                headers=headers,
                params={"tag_ids": tag, "page_size": 1, "page_token": token},
            )
        ).json()
        found += [agent["id"] for agent in body["result"]]
        token = body["next_page_token"]
        if not token:
            break
    assert found == [tagged.json()["id"]]


async def test_your_own_password_needs_a_fresh_login_or_the_current_one(
    client: httpx.AsyncClient, runtime: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    tenant = await make_customer(runtime)
    headers = bearer(await login(client, tenant.admin.username))
    path = f"/v1.0/agents/{tenant.admin.id}/password"
    later = clock.wall_clock() + timedelta(minutes=11)
    monkeypatch.setattr(clock, "wall_clock", lambda: later)  # a token stolen a while ago
    runtime.authenticator.identity_cache.invalidate()
    response = await client.put(path, json={"password": "taken over"}, headers=headers)
    assert_error(response, 403, "FRESH_LOGIN_REQUIRED")
    wrong = {"password": "taken over", "current_password": "a guess at it"}
    assert_error(
        await client.put(path, json=wrong, headers=headers), 403, "INVALID_CURRENT_PASSWORD"
    )
    right = {"password": "a new one of mine", "current_password": PASSWORD}
    assert (await client.put(path, json=right, headers=headers)).status_code == 200
    fresh = bearer(await login(client, tenant.admin.username, "a new one of mine"))
    again = await client.put(path, json={"password": "yet another one"}, headers=fresh)
    assert again.status_code == 200  # logged in just now: no more proof needed


async def test_an_admin_setting_another_agents_password_needs_no_proof_of_it(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    tenant = await make_customer(runtime)
    agent = await make_agent(runtime, tenant.customer.id)
    key = await make_accesskey(runtime, tenant.customer.id)
    response = await client.put(
        f"/v1.0/agents/{agent.id}/password",
        json={"password": "set by the admin"},
        params={"accesskey": key},
    )
    assert response.status_code == 200


async def test_the_last_superadmin_stays_and_bootstrap_gives_a_lost_bit_back(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    root = await make_superadmin(runtime)
    headers = bearer(await login(client, root.username))
    demote = {"permission": int(Permission.CUSTOMER_ADMIN)}
    path = f"/v1.0/agents/{root.id}"
    assert_error(
        await client.put(f"{path}/permission", json=demote, headers=headers), 409, "LAST_SUPERADMIN"
    )
    assert_error(await client.delete(path, headers=headers), 409, "LAST_SUPERADMIN")
    second = await make_superadmin(runtime)
    response = await client.put(f"{path}/permission", json=demote, headers=headers)
    assert response.status_code == 200, response.text  # another superadmin remains now
    # The break-glass path: the shell restores the bit of the platform's own agent...
    async with runtime.transaction() as session:
        restored, created = await operator.bootstrap_superadmin(
            session, passwords=runtime.passwords, username=root.username, password=PASSWORD
        )
    assert not created and restored.permission & Permission.PROJECT_SUPER_ADMIN
    # ...but never promotes a customer's agent, whatever its customer is called.
    tenant = await make_customer(runtime)
    with pytest.raises(AlreadyExists):
        async with runtime.transaction() as session:
            await operator.bootstrap_superadmin(
                session,
                passwords=runtime.passwords,
                username=tenant.admin.username,
                password=PASSWORD,
            )
    assert second.id != root.id


async def test_a_superadmin_bit_on_a_customers_agent_does_not_stand_in_for_the_platforms(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    root = await make_superadmin(runtime)
    headers = bearer(await login(client, root.username))
    tenant = await make_customer(runtime)  # a customer's admin, given the bit by root
    promote = {"permission": int(Permission.PROJECT_SUPER_ADMIN | Permission.CUSTOMER_ADMIN)}
    response = await client.put(
        f"/v1.0/agents/{tenant.admin.id}/permission", json=promote, headers=headers
    )
    assert response.status_code == 200, response.text
    demote = {"permission": int(Permission.CUSTOMER_ADMIN)}
    response = await client.put(f"/v1.0/agents/{root.id}/permission", json=demote, headers=headers)
    assert_error(response, 409, "LAST_SUPERADMIN")  # that customer could go, and its bit with it
    other = bearer(await login(client, tenant.admin.username))
    platform = root.customer_id
    deleted = await client.delete(f"/v1.0/customers/{platform}", headers=other)
    assert_error(deleted, 409, "PLATFORM")


async def test_a_stale_token_cannot_mint_what_would_outlast_it(
    client: httpx.AsyncClient, runtime: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The review's bypass: a stolen, stale admin token mints a key or a second admin, and that
    # sets the owner's password. Each step needs a recent login now.
    tenant = await make_customer(runtime)
    manager = await make_agent(runtime, tenant.customer.id, permission=64)
    headers = bearer(await login(client, tenant.admin.username))
    later = clock.wall_clock() + timedelta(minutes=11)
    monkeypatch.setattr(clock, "wall_clock", lambda: later)
    runtime.authenticator.identity_cache.invalidate()
    refusals = [
        await client.post("/v1.0/accesskeys", json={"name": "mine"}, headers=headers),
        await client.post(
            "/v1.0/agents",
            json={"username": unique_email("mole"), "password": "long enough 1", "permission": 32},
            headers=headers,
        ),
        await client.put(
            f"/v1.0/agents/{manager.id}/permission", json={"permission": 32}, headers=headers
        ),
        await client.put(
            f"/v1.0/agents/{manager.id}/password",
            json={"password": "now mine 123"},
            headers=headers,
        ),
    ]
    for response in refusals:
        assert_error(response, 403, "FRESH_LOGIN_REQUIRED")
    plain = await client.post(  # a plain agent grants nothing: no proof needed
        "/v1.0/agents",
        json={"username": unique_email("plain"), "password": "long enough 1", "permission": 16},
        headers=headers,
    )
    assert plain.status_code == 200
    proved = await client.put(
        f"/v1.0/agents/{manager.id}/password",
        json={"password": "now set 1234", "current_password": PASSWORD},
        headers=headers,
    )
    assert proved.status_code == 200
