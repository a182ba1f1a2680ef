"""/v1.0/accesskeys and accesskey authentication (reference §1.10, §3; design §6.5)."""

from __future__ import annotations

import hashlib
import re
import uuid
from datetime import timedelta

import httpx
import pytest
from sqlalchemy import select

from tests.factories import (
    assert_error,
    bearer,
    login,
    make_accesskey,
    make_agent,
    make_customer,
    make_superadmin,
    signed_in_admin,
)
from vbauth import clock
from vbauth.models import AccessKey, Customer
from vbauth.runtime import Runtime

pytestmark = pytest.mark.anyio

KEY_FIELDS = {
    "id",
    "customer_id",
    "name",
    "detail",
    "token_prefix",
    "tm_expire",
    "tm_last_used",
    "tm_create",
    "tm_update",
    "tm_delete",
}


async def test_the_seed_example_creates_a_key_shown_once(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    tenant = await make_customer(runtime)
    token = await login(client, tenant.admin.username)
    response = await client.post(
        f"/v1.0/accesskeys?token={token}",
        headers={"Content-Type": "application/json"},
        content='{"name": "my-api-key", "detail": "API key for automated access"}',
    )
    assert response.status_code == 200
    key = response.json()
    assert set(key) == KEY_FIELDS | {"token"}
    assert re.fullmatch(r"vb_[0-9A-Za-z]{32}", key["token"])
    assert key["token_prefix"] == key["token"][:11]
    assert (key["name"], key["detail"]) == ("my-api-key", "API key for automated access")
    lifetime = clock.parse_timestamp(key["tm_expire"]) - clock.parse_timestamp(key["tm_create"])
    assert lifetime == timedelta(days=365)
    assert response.headers["cache-control"] == "no-store"
    again = await client.get(f"/v1.0/accesskeys/{key['id']}", params={"token": token})
    assert "token" not in again.json()
    listed = await client.get("/v1.0/accesskeys", params={"token": token})
    assert key["token"] not in listed.text
    async with runtime.transaction(write=False) as session:
        stored = await session.get(AccessKey, uuid.UUID(key["id"]))
    assert stored is not None
    assert stored.token_hash == hashlib.sha256(key["token"].encode()).hexdigest()


async def test_a_key_works_in_the_query_the_cookie_and_a_bearer_header(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    tenant = await make_customer(runtime)
    key = await make_accesskey(runtime, tenant.customer.id)
    for kwargs in (
        {"params": {"accesskey": key}},
        {"headers": {"Cookie": f"accesskey={key}"}},
        {"headers": bearer(key)},
    ):
        response = await client.get("/v1.0/customer", **kwargs)  # type: ignore[arg-type]
        assert response.status_code == 200, (kwargs, response.text)
        assert response.json()["id"] == str(tenant.customer.id)


async def test_the_wrong_parameter_name_is_refused_both_ways(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    tenant = await make_customer(runtime)
    key = await make_accesskey(runtime, tenant.customer.id)
    jwt = await login(client, tenant.admin.username)
    assert_error(
        await client.get("/v1.0/customer", params={"token": key}), 401, "INVALID_CREDENTIALS"
    )
    assert_error(
        await client.get("/v1.0/customer", params={"accesskey": jwt}), 401, "INVALID_CREDENTIALS"
    )
    assert_error(
        await client.get("/v1.0/customer", params={"api_key": key}), 401, "AUTHENTICATION_REQUIRED"
    )


async def test_a_key_acts_as_an_admin_of_its_own_customer_only(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    tenant = await make_customer(runtime)
    key = {"accesskey": await make_accesskey(runtime, tenant.customer.id)}
    assert (await client.get("/v1.0/agents", params=key)).status_code == 200
    created = await client.post(
        "/v1.0/agents",
        params=key,
        json={
            "username": "made-by-key@example.com",
            "password": "a fine password",
            "permission": 32,
        },
    )
    assert created.status_code == 200
    response = await client.post(
        "/v1.0/agents",
        params=key,
        json={
            "username": "root-by-key@example.com",
            "password": "a fine password",
            "permission": 1,
        },
    )
    assert_error(response, 403, "PERMISSION_DENIED")
    assert_error(await client.get("/v1.0/me", params=key), 403, "AGENT_AUTH_REQUIRED")
    assert_error(await client.get("/v1.0/customers", params=key), 403, "PERMISSION_DENIED")
    other = await make_customer(runtime)
    response = await client.get(f"/v1.0/agents/{other.admin.id}", params=key)
    assert_error(response, 404, "AGENT_NOT_FOUND")


async def test_keys_are_managed_by_admins_only(client: httpx.AsyncClient, runtime: Runtime) -> None:
    tenant = await make_customer(runtime)
    for permission in (16, 64):
        agent = await make_agent(runtime, tenant.customer.id, permission=permission)
        headers = bearer(await login(client, agent.username))
        assert_error(
            await client.get("/v1.0/accesskeys", headers=headers), 403, "PERMISSION_DENIED"
        )
        # Permission is checked before the body, as in the reference.
        response = await client.post("/v1.0/accesskeys", json={"expire": 1}, headers=headers)
        assert_error(response, 403, "PERMISSION_DENIED")


async def test_a_key_can_manage_keys(client: httpx.AsyncClient, runtime: Runtime) -> None:
    tenant = await make_customer(runtime)
    key = {"accesskey": await make_accesskey(runtime, tenant.customer.id)}
    response = await client.post("/v1.0/accesskeys", params=key, json={"name": "second"})
    assert response.status_code == 200


@pytest.mark.parametrize(
    ("expire", "status", "reason"),
    [
        (86399, 400, "INVALID_ARGUMENT"),
        (0, 400, "INVALID_ARGUMENT"),
        (-86400, 400, "INVALID_ARGUMENT"),
        (2**31 + 86400, 400, "INVALID_ARGUMENT"),  # VoIPBIN would wrap this to a short key
        (2**32 + 86400, 400, "INVALID_ARGUMENT"),
        (10**30, 400, "INVALID_ARGUMENT"),
        (3653 * 86400 + 1, 400, "INVALID_ARGUMENT"),
        ("86400", 400, "INVALID_JSON_BODY"),
        (86400.0, 400, "INVALID_JSON_BODY"),
        (True, 400, "INVALID_JSON_BODY"),
        ([86400], 400, "INVALID_JSON_BODY"),
        (86400, 200, None),
        (3653 * 86400, 200, None),
        (86400000, 200, None),
    ],
)
async def test_expire_is_bounded_and_never_wrapped(
    client: httpx.AsyncClient, runtime: Runtime, expire: object, status: int, reason: str | None
) -> None:
    _, headers = await signed_in_admin(client, runtime)
    response = await client.post("/v1.0/accesskeys", json={"expire": expire}, headers=headers)
    if reason:
        assert_error(response, status, reason)
        return
    key = response.json()
    lifetime = clock.parse_timestamp(key["tm_expire"]) - clock.parse_timestamp(key["tm_create"])
    assert lifetime == timedelta(seconds=expire)  # type: ignore[arg-type]


async def test_an_empty_body_makes_a_one_year_key(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    _, headers = await signed_in_admin(client, runtime)
    response = await client.post("/v1.0/accesskeys", json={}, headers=headers)
    assert response.status_code == 200


async def test_update_changes_only_the_fields_sent(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    _, headers = await signed_in_admin(client, runtime)
    key = (
        await client.post("/v1.0/accesskeys", json={"name": "n", "detail": "d"}, headers=headers)
    ).json()
    response = await client.put(
        f"/v1.0/accesskeys/{key['id']}", json={"name": "renamed"}, headers=headers
    )
    body = response.json()
    assert (body["name"], body["detail"]) == ("renamed", "d")
    assert body["tm_expire"] == key["tm_expire"]
    response = await client.put(
        f"/v1.0/accesskeys/{key['id']}",
        json={"token": "vb_mine", "tm_expire": "2099-01-01T00:00:00Z"},
        headers=headers,
    )
    assert response.json()["tm_expire"] == key["tm_expire"]
    assert response.json()["token_prefix"] == key["token_prefix"]


async def test_a_deleted_key_stops_at_once_and_is_gone(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    _tenant, headers = await signed_in_admin(client, runtime)
    created = (await client.post("/v1.0/accesskeys", json={}, headers=headers)).json()
    key = {"accesskey": created["token"]}
    assert (await client.get("/v1.0/customer", params=key)).status_code == 200  # now cached
    deleted = await client.delete(f"/v1.0/accesskeys/{created['id']}", headers=headers)
    assert deleted.status_code == 200
    assert deleted.json()["tm_delete"] is not None
    assert_error(await client.get("/v1.0/customer", params=key), 401, "INVALID_CREDENTIALS")
    for method in ("GET", "PUT", "DELETE"):
        response = await client.request(
            method,
            f"/v1.0/accesskeys/{created['id']}",
            json={} if method == "PUT" else None,
            headers=headers,
        )
        assert_error(response, 404, "ACCESSKEY_NOT_FOUND")
    listed = await client.get("/v1.0/accesskeys", headers=headers)
    assert created["id"] not in listed.text


async def test_another_customers_key_answers_exactly_like_a_missing_one(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    _, headers = await signed_in_admin(client, runtime)
    _other, other_headers = await signed_in_admin(client, runtime)
    foreign = (await client.post("/v1.0/accesskeys", json={}, headers=other_headers)).json()
    root = bearer(await login(client, (await make_superadmin(runtime)).username))
    for key_id in (foreign["id"], str(uuid.uuid4())):
        for who in (headers, root):
            response = await client.get(f"/v1.0/accesskeys/{key_id}", headers=who)
            error = assert_error(response, 404, "ACCESSKEY_NOT_FOUND")
            assert error["message"] == "The requested resource was not found."
    response = await client.delete(f"/v1.0/accesskeys/{foreign['id']}", headers=headers)
    assert_error(response, 404, "ACCESSKEY_NOT_FOUND")


async def test_expired_unknown_and_checksum_broken_keys_are_invalid(
    client: httpx.AsyncClient, runtime: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    tenant = await make_customer(runtime)
    key = await make_accesskey(runtime, tenant.customer.id, expire=86400)
    typo = key[:10] + ("A" if key[10] != "A" else "B") + key[11:]
    for bad in (typo, "vb_" + "A" * 32, "vb_short", "legacy-plaintext-key", key[:-1] + "é"):
        assert_error(
            await client.get("/v1.0/customer", params={"accesskey": bad}),
            401,
            "INVALID_CREDENTIALS",
        )
    assert (await client.get("/v1.0/customer", params={"accesskey": key})).status_code == 200
    later = clock.wall_clock() + timedelta(days=1, seconds=1)
    monkeypatch.setattr(clock, "wall_clock", lambda: later)
    assert_error(
        await client.get("/v1.0/customer", params={"accesskey": key}), 401, "INVALID_CREDENTIALS"
    )


async def test_keys_of_deleted_or_expired_customers_stop_working(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    for status in ("deleted", "expired"):
        tenant = await make_customer(runtime)
        key = await make_accesskey(runtime, tenant.customer.id)
        assert (await client.get("/v1.0/customer", params={"accesskey": key})).status_code == 200
        async with runtime.transaction() as session:
            customer = await session.get(Customer, tenant.customer.id)
            assert customer is not None
            customer.status = status
        runtime.authenticator.identity_cache.invalidate()
        assert_error(
            await client.get("/v1.0/customer", params={"accesskey": key}),
            401,
            "INVALID_CREDENTIALS",
        )


async def test_last_use_is_recorded_in_batches(client: httpx.AsyncClient, runtime: Runtime) -> None:
    _tenant, headers = await signed_in_admin(client, runtime)
    created = (await client.post("/v1.0/accesskeys", json={}, headers=headers)).json()
    assert created["tm_last_used"] is None
    before = clock.now()
    for _ in range(5):
        await client.get("/v1.0/customer", params={"accesskey": created["token"]})
    fetched = await client.get(f"/v1.0/accesskeys/{created['id']}", headers=headers)
    assert fetched.json()["tm_last_used"] is None  # not written per request
    await runtime.flush_last_used()
    fetched = await client.get(f"/v1.0/accesskeys/{created['id']}", headers=headers)
    assert clock.parse_timestamp(fetched.json()["tm_last_used"]) > before
    async with runtime.transaction(write=False) as session:
        used = await session.scalar(
            select(AccessKey.tm_last_used).where(AccessKey.id == uuid.UUID(created["id"]))
        )
    assert used is not None


async def test_lists_page_like_every_other_list(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    _, headers = await signed_in_admin(client, runtime)
    ids = [
        (await client.post("/v1.0/accesskeys", json={}, headers=headers)).json()["id"]
        for _ in range(3)
    ]
    first = (await client.get("/v1.0/accesskeys", params={"page_size": 2}, headers=headers)).json()
    second = (
        await client.get(
            "/v1.0/accesskeys",
            params={"page_size": 2, "page_token": first["next_page_token"]},
            headers=headers,
        )
    ).json()
    assert [k["id"] for k in first["result"] + second["result"]] == list(reversed(ids))
    assert_error(
        await client.get("/v1.0/accesskeys", params={"page_size": "x"}, headers=headers),
        400,
        "INVALID_REQUEST_PARAMETER",
    )
