"""/v1.0/customer (self) and /v1.0/customers (superadmins)."""

from __future__ import annotations

import uuid

import httpx
import pytest

from tests.factories import (
    PASSWORD,
    assert_error,
    bearer,
    login,
    make_agent,
    make_customer,
    make_superadmin,
    unique_email,
)
from tests.mailbox import Mailbox
from vbauth.runtime import Runtime

pytestmark = pytest.mark.anyio

CUSTOMER_FIELDS = {
    "id",
    "name",
    "detail",
    "email",
    "phone_number",
    "address",
    "webhook_method",
    "webhook_uri",
    "billing_account_id",
    "metadata",
    "email_verified",
    "status",
    "identity_verification_status",
    "tm_deletion_scheduled",
    "tm_create",
    "tm_update",
    "tm_delete",
}


async def _root(client: httpx.AsyncClient, runtime: Runtime) -> dict[str, str]:
    return bearer(await login(client, (await make_superadmin(runtime)).username))


async def test_admins_and_managers_read_their_customer_with_its_webhook_secret(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    tenant = await make_customer(runtime)
    manager = await make_agent(runtime, tenant.customer.id, permission=64)
    for username in (tenant.admin.username, manager.username):
        response = await client.get("/v1.0/customer", headers=bearer(await login(client, username)))
        body = response.json()
        assert set(body) == CUSTOMER_FIELDS | {"webhook_secret", "pending_email"}
        assert body["id"] == str(tenant.customer.id)
        assert len(body["webhook_secret"]) == 64
        assert body["billing_account_id"] == "00000000-0000-0000-0000-000000000000"


async def test_plain_agents_cannot_read_the_customer(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    tenant = await make_customer(runtime)
    agent = await make_agent(runtime, tenant.customer.id)
    response = await client.get(
        "/v1.0/customer", headers=bearer(await login(client, agent.username))
    )
    assert_error(response, 403, "PERMISSION_DENIED")


async def test_admins_update_their_customer_and_omitted_fields_stay(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    tenant = await make_customer(runtime)
    headers = bearer(await login(client, tenant.admin.username))
    response = await client.put(
        "/v1.0/customer", headers=headers, json={"name": "Acme", "webhook_method": "POST"}
    )
    assert response.status_code == 200
    response = await client.put("/v1.0/customer", headers=headers, json={"detail": "d"})
    body = response.json()
    assert (body["name"], body["detail"], body["webhook_method"]) == ("Acme", "d", "POST")
    assert body["tm_update"] is not None


async def test_managers_cannot_update_the_customer(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    tenant = await make_customer(runtime)
    manager = await make_agent(runtime, tenant.customer.id, permission=64)
    response = await client.put(
        "/v1.0/customer", json={"name": "x"}, headers=bearer(await login(client, manager.username))
    )
    assert_error(response, 403, "PERMISSION_DENIED")


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        ({"email": "not an email"}, "INVALID_ARGUMENT"),
        ({"webhook_method": "PATCH"}, "INVALID_ARGUMENT"),
        ({"name": 5}, "INVALID_JSON_BODY"),
        ({"name": "x" * 300}, "INVALID_ARGUMENT"),
    ],
)
async def test_bad_customer_updates_are_400(
    client: httpx.AsyncClient, runtime: Runtime, body: dict[str, object], reason: str
) -> None:
    tenant = await make_customer(runtime)
    headers = bearer(await login(client, tenant.admin.username))
    assert_error(await client.put("/v1.0/customer", json=body, headers=headers), 400, reason)


async def test_an_email_taken_by_another_customer_is_409_when_verified(
    client: httpx.AsyncClient, runtime: Runtime, mailbox: Mailbox
) -> None:
    tenant, other = await make_customer(runtime), await make_customer(runtime)
    headers = bearer(await login(client, tenant.admin.username))
    response = await client.put(
        "/v1.0/customer", json={"email": other.customer.email.upper()}, headers=headers
    )
    assert response.json()["email"] == tenant.customer.email  # not until verified
    assert response.json()["pending_email"] == other.customer.email
    await runtime.mailer.deliver_pending()
    # Only the address's owner gets the link; were they to follow it, the address is taken.
    token = mailbox.link_token(other.customer.email, "Verify your email address")
    assert_error(
        await client.post("/auth/email-verify", json={"token": token}), 409, "ALREADY_EXISTS"
    )


async def test_a_superadmin_creates_a_customer_with_its_first_admin(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    headers = await _root(client, runtime)
    email = unique_email("acme")
    response = await client.post(
        "/v1.0/customers",
        headers=headers,
        json={
            "email": email.upper(),
            "name": "Acme",
            "admin_password": PASSWORD,
        },
    )
    assert response.status_code == 200, response.text
    # The customer itself, as VoIPBIN answers (issue 12: it was {"customer", "agent"}).
    body = response.json()
    assert body["email"] == email
    assert body["status"] == "active"
    assert {"terms_agreed_version", "terms_agreed_ip"} <= set(body)
    assert "webhook_secret" not in body and "agent" not in body
    admin_headers = bearer(await login(client, email))
    me = (await client.get("/v1.0/me", headers=admin_headers)).json()
    assert (me["username"], me["permission"], me["customer_id"]) == (email, 32, body["id"])
    response = await client.get("/v1.0/customer", headers=admin_headers)
    assert response.json()["id"] == body["id"]


async def test_a_customer_created_without_a_password_has_an_admin_that_cannot_log_in_yet(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    headers = await _root(client, runtime)
    email = unique_email("nopw")
    assert (
        await client.post("/v1.0/customers", headers=headers, json={"email": email})
    ).status_code == 200
    response = await client.post(
        "/auth/login", json={"username": email, "password": "any password at all"}
    )
    assert_error(response, 401, "INVALID_CREDENTIALS")


async def test_superadmins_list_get_update_and_delete_customers(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    headers = await _root(client, runtime)
    tenant = await make_customer(runtime)
    tenant_token = await login(client, tenant.admin.username)
    listed = await client.get("/v1.0/customers", headers=headers)
    assert str(tenant.customer.id) in [c["id"] for c in listed.json()["result"]]
    path = f"/v1.0/customers/{tenant.customer.id}"
    assert (await client.get(path, headers=headers)).json()["email"] == tenant.customer.email
    updated = await client.put(path, json={"detail": "vip"}, headers=headers)
    assert updated.json()["detail"] == "vip"
    deleted = await client.delete(path, headers=headers)
    assert deleted.json()["status"] == "deleted"
    assert deleted.json()["tm_delete"] is not None
    assert_error(await client.get(path, headers=headers), 404, "CUSTOMER_NOT_FOUND")
    assert_error(
        await client.get("/v1.0/me", headers=bearer(tenant_token)), 401, "INVALID_CREDENTIALS"
    )
    response = await client.post(
        "/auth/login", json={"username": tenant.admin.username, "password": PASSWORD}
    )
    assert_error(response, 401, "INVALID_CREDENTIALS")


async def test_a_deleted_customers_email_can_sign_up_again(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    headers = await _root(client, runtime)
    tenant = await make_customer(runtime)
    await client.delete(f"/v1.0/customers/{tenant.customer.id}", headers=headers)
    response = await client.post(
        "/v1.0/customers", headers=headers, json={"email": tenant.customer.email}
    )
    assert response.status_code == 200


async def test_a_duplicate_customer_email_is_409(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    headers = await _root(client, runtime)
    tenant = await make_customer(runtime)
    response = await client.post(
        "/v1.0/customers", headers=headers, json={"email": tenant.customer.email}
    )
    assert_error(response, 409, "ALREADY_EXISTS")


async def test_a_superadmin_cannot_delete_its_own_customer(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    root = await make_superadmin(runtime)
    headers = bearer(await login(client, root.username))
    response = await client.delete(f"/v1.0/customers/{root.customer_id}", headers=headers)
    assert_error(response, 400, "INVALID_ARGUMENT")


async def test_customer_admins_cannot_use_the_superadmin_endpoints(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    tenant = await make_customer(runtime)
    headers = bearer(await login(client, tenant.admin.username))
    path = f"/v1.0/customers/{tenant.customer.id}"
    for method, url, body in [
        ("GET", "/v1.0/customers", None),
        ("POST", "/v1.0/customers", {"email": unique_email()}),
        ("GET", path, None),
        ("PUT", path, {"name": "x"}),
        ("DELETE", path, None),
    ]:
        response = await client.request(method, url, json=body, headers=headers)
        assert_error(response, 403, "PERMISSION_DENIED")


async def test_unknown_customers_are_404_and_bad_ids_400(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    headers = await _root(client, runtime)
    response = await client.get(f"/v1.0/customers/{uuid.uuid4()}", headers=headers)
    assert_error(response, 404, "CUSTOMER_NOT_FOUND")
    response = await client.get("/v1.0/customers/abc", headers=headers)
    assert_error(response, 400, "INVALID_ID")
