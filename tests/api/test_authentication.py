"""The credential pipeline on HTTP: where tokens come from, and every way they stop working."""

from __future__ import annotations

import base64
import json
import uuid
from datetime import timedelta

import httpx
import jwt
import pytest

from tests.conftest import TEST_SECRET
from tests.factories import PASSWORD, assert_error, bearer, login, make_agent, make_customer
from vbauth import clock
from vbauth.models import Customer
from vbauth.runtime import Runtime

pytestmark = pytest.mark.anyio


async def test_the_token_works_as_query_bearer_and_cookie(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    tenant = await make_customer(runtime)
    token = await login(client, tenant.admin.username)
    answers = [
        await client.get("/v1.0/me", params={"token": token}),
        await client.get("/v1.0/me", headers=bearer(token)),
        await client.get("/v1.0/me", headers={"Cookie": f"token={token}"}),
    ]
    for response in answers:
        assert response.status_code == 200, response.text
        assert response.json()["id"] == str(tenant.admin.id)
        assert response.json()["username"] == tenant.admin.username
        assert "password_hash" not in response.json()


async def test_the_login_cookie_alone_authenticates_the_browser(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    tenant = await make_customer(runtime)
    await client.post("/auth/login", json={"username": tenant.admin.username, "password": PASSWORD})
    response = await client.get("/v1.0/me")  # the client kept the Secure cookie (https)
    assert response.status_code == 200


async def test_no_credential_is_authentication_required(client: httpx.AsyncClient) -> None:
    for params in ({}, {"api_key": "x"}, {"access_key": "x"}, {"token": ""}):
        response = await client.get("/v1.0/me", params=params)
        error = assert_error(response, 401, "AUTHENTICATION_REQUIRED")
        assert error["message"] == "Authentication is required."
        assert response.headers["www-authenticate"].startswith("Bearer")
    for header in ("Token abc", "Basic abc", "Bearer"):
        response = await client.get("/v1.0/me", headers={"Authorization": header})
        assert_error(response, 401, "AUTHENTICATION_REQUIRED")


def _tamper(token: str, **changes: object) -> str:
    header, payload, signature = token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    claims.update(changes)
    body = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    return f"{header}.{body}.{signature}"


async def test_tampered_forged_and_alg_none_tokens_are_invalid_credentials(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    tenant = await make_customer(runtime)
    token = await login(client, tenant.admin.username)
    claims = jwt.decode(token, options={"verify_signature": False})
    kid = jwt.get_unverified_header(token)["kid"]
    unsigned = jwt.encode(claims, key=None, algorithm="none")
    other = await make_agent(runtime, tenant.customer.id)
    bad_tokens = [
        _tamper(token, sub=str(other.id)),
        _tamper(token, exp=claims["exp"] + 10_000),
        token[:-2] + ("AA" if not token.endswith("AA") else "BB"),
        unsigned,
        jwt.encode(
            claims,
            "another secret of at least thirty-two characters",
            "HS256",
            headers={"kid": kid},
        ),
        jwt.encode(claims, TEST_SECRET, "HS512", headers={"kid": kid}),
        jwt.encode({**claims, "typ": "direct"}, TEST_SECRET, "HS256", headers={"kid": kid}),
        jwt.encode({**claims, "sid": "not-a-uuid"}, TEST_SECRET, "HS256", headers={"kid": kid}),
        jwt.encode(
            {**claims, "sid": str(uuid.uuid4())}, TEST_SECRET, "HS256", headers={"kid": kid}
        ),
        "not.a.jwt",
        "garbage",
    ]
    for bad in bad_tokens:
        response = await client.get("/v1.0/me", params={"token": bad})
        error = assert_error(response, 401, "INVALID_CREDENTIALS")
        assert error["message"] == "The provided credentials are invalid."


async def test_an_expired_token_is_invalid_credentials(
    client: httpx.AsyncClient, runtime: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    tenant = await make_customer(runtime)
    token = await login(client, tenant.admin.username)
    assert (await client.get("/v1.0/me", headers=bearer(token))).status_code == 200
    issued = clock.wall_clock()
    monkeypatch.setattr(clock, "wall_clock", lambda: issued + timedelta(days=7, seconds=1))
    response = await client.get("/v1.0/me", headers=bearer(token))
    assert_error(response, 401, "INVALID_CREDENTIALS")


async def test_a_bad_cookie_token_shadows_a_good_bearer(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    tenant = await make_customer(runtime)
    token = await login(client, tenant.admin.username)
    response = await client.get("/v1.0/me", headers={**bearer(token), "Cookie": "token=broken"})
    assert_error(response, 401, "INVALID_CREDENTIALS")


async def test_a_token_wins_over_an_accesskey(client: httpx.AsyncClient, runtime: Runtime) -> None:
    tenant = await make_customer(runtime)
    token = await login(client, tenant.admin.username)
    response = await client.get("/v1.0/me", params={"token": token, "accesskey": "vb_whatever"})
    assert response.status_code == 200


async def test_a_jwt_in_the_accesskey_parameter_is_refused(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    tenant = await make_customer(runtime)
    token = await login(client, tenant.admin.username)
    response = await client.get("/v1.0/me", params={"accesskey": token})
    assert_error(response, 401, "INVALID_CREDENTIALS")


async def test_deleting_an_agent_kills_its_token_at_once(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    tenant = await make_customer(runtime)
    agent = await make_agent(runtime, tenant.customer.id)
    admin_token = await login(client, tenant.admin.username)
    agent_token = await login(client, agent.username)
    assert (await client.get("/v1.0/me", headers=bearer(agent_token))).status_code == 200
    response = await client.delete(f"/v1.0/agents/{agent.id}", headers=bearer(admin_token))
    assert response.status_code == 200
    response = await client.get("/v1.0/me", headers=bearer(agent_token))
    assert_error(response, 401, "INVALID_CREDENTIALS")


async def test_a_permission_change_takes_effect_at_once(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    tenant = await make_customer(runtime)
    second_admin = await make_agent(runtime, tenant.customer.id, permission=32)
    token = await login(client, second_admin.username)
    assert (await client.get("/v1.0/customer", headers=bearer(token))).status_code == 200
    admin_token = await login(client, tenant.admin.username)
    response = await client.put(
        f"/v1.0/agents/{second_admin.id}/permission",
        json={"permission": 16},
        headers=bearer(admin_token),
    )
    assert response.status_code == 200
    response = await client.get("/v1.0/customer", headers=bearer(token))
    assert_error(response, 403, "PERMISSION_DENIED")


async def test_logout_revokes_the_session_and_clears_the_cookie(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    tenant = await make_customer(runtime)
    token = await login(client, tenant.admin.username)
    other_session = await login(client, tenant.admin.username)
    assert (await client.get("/v1.0/me", headers=bearer(token))).status_code == 200
    response = await client.post("/auth/logout", headers=bearer(token))
    assert response.status_code == 200
    assert 'token=""' in response.headers["set-cookie"]
    assert "Max-Age=0" in response.headers["set-cookie"]
    assert_error(await client.get("/v1.0/me", headers=bearer(token)), 401, "INVALID_CREDENTIALS")
    assert (await client.get("/v1.0/me", headers=bearer(other_session))).status_code == 200


async def test_deleting_the_customer_kills_its_tokens(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    tenant = await make_customer(runtime)
    token = await login(client, tenant.admin.username)
    assert (await client.get("/v1.0/me", headers=bearer(token))).status_code == 200
    async with runtime.transaction() as session:
        customer = await session.get(Customer, tenant.customer.id)
        assert customer is not None
        customer.status = "expired"
    runtime.authenticator.identity_cache.invalidate()  # as the expiry job will do
    assert_error(await client.get("/v1.0/me", headers=bearer(token)), 401, "INVALID_CREDENTIALS")


async def test_a_frozen_customer_is_refused_with_account_frozen(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    tenant = await make_customer(runtime)
    token = await login(client, tenant.admin.username)
    scheduled = clock.now()
    async with runtime.transaction() as session:
        customer = await session.get(Customer, tenant.customer.id)
        assert customer is not None
        customer.status, customer.tm_deletion_scheduled = "frozen", scheduled
    runtime.authenticator.identity_cache.invalidate()
    response = await client.get("/v1.0/me", headers=bearer(token))
    error = assert_error(response, 403, "ACCOUNT_FROZEN")
    assert error["message"] == "This account is frozen. Contact support."
    assert error["details"] == [
        {
            "deletion_scheduled_at": clock.format_timestamp(scheduled),
            "deletion_effective_at": clock.format_timestamp(scheduled + timedelta(days=30)),
            "recovery_endpoint": "DELETE /auth/unregister",
        }
    ]
