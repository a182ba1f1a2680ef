"""GET /auth/verify: the gateway's decision for nginx, Traefik and Envoy."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from tests.conftest import BASE_URL, make_settings
from tests.factories import (
    assert_error,
    bearer,
    boot,
    login,
    make_accesskey,
    make_agent,
    make_customer,
    make_direct,
)
from vbauth.app import create_app
from vbauth.gateway.identity_header import read_identity
from vbauth.runtime import Runtime

pytestmark = pytest.mark.anyio


async def test_nginx_style_verify_passes_with_identity_headers(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    tenant = await make_customer(runtime)
    token = await login(client, tenant.admin.username)
    response = await client.get(
        "/auth/verify",
        headers={"X-Original-URI": f"/v1.0/calls?token={token}", "X-Original-Method": "GET"},
    )
    assert response.status_code == 200
    claims = read_identity(
        runtime.upstream_keys,
        response.headers["x-vb-identity"],
        audience="demo",  # the default routes' name for the demo upstream
        method="GET",
        path="/v1.0/calls",
    )
    assert claims["customer_id"] == str(tenant.customer.id)
    assert response.headers["x-vb-customer-id"] == str(tenant.customer.id)
    assert response.headers["x-vb-agent-id"] == str(tenant.admin.id)


async def test_traefik_style_verify_reads_forwarded_headers_and_cookies(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    tenant = await make_customer(runtime)
    key = await make_accesskey(runtime, tenant.customer.id)
    response = await client.get(
        "/auth/verify",
        headers={
            "X-Forwarded-Uri": "/v1.0/aicalls/123",
            "X-Forwarded-Method": "DELETE",
            "Cookie": f"accesskey={key}",
        },
    )
    assert response.status_code == 200
    assert response.headers["x-vb-kind"] == "accesskey"


async def test_envoy_style_verify_takes_the_path_after_the_prefix(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    tenant = await make_customer(runtime)
    token = await login(client, tenant.admin.username)
    response = await client.post("/auth/verify/v1.0/calls", headers=bearer(token))
    assert response.status_code == 200
    response = await client.post("/auth/verify/v1.0/nothing", headers=bearer(token))
    assert_error(response, 404, "ROUTE_NOT_FOUND")


async def test_verify_refuses_like_the_gateway(client: httpx.AsyncClient, runtime: Runtime) -> None:
    tenant = await make_customer(runtime)
    agent = await make_agent(runtime, tenant.customer.id, permission=16)
    agent_token = await login(client, agent.username)
    direct = await make_direct(runtime, tenant.customer.id)
    widget = await boot(client, direct.hash)
    cases = [
        ({"X-Original-URI": "/v1.0/calls"}, 401, "AUTHENTICATION_REQUIRED"),
        ({"X-Original-URI": "/v1.0/calls?token=garbage"}, 401, "INVALID_CREDENTIALS"),
        ({"X-Original-URI": f"/v1.0/calls?token={agent_token}"}, 403, "PERMISSION_DENIED"),
        ({"X-Original-URI": f"/v1.0/calls?token={widget}"}, 403, "DIRECT_ACCESS_NOT_SUPPORTED"),
        ({"X-Original-URI": "/v1.0/nowhere"}, 404, "ROUTE_NOT_FOUND"),
    ]
    for headers, status, reason in cases:
        response = await client.get("/auth/verify", headers=headers)
        assert_error(response, status, reason)
        assert "x-vb-identity" not in response.headers
    response = await client.get(
        "/auth/verify", headers={"X-Original-URI": f"/v1.0/aicalls?token={widget}"}
    )
    assert response.status_code == 200
    assert response.headers["x-vb-resource-id"] == str(direct.resource_id)


async def test_a_second_convention_added_by_the_client_is_refused_not_believed(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    # Traefik passes client headers on: a widget's token asking for /v1.0/calls (Traefik's
    # X-Forwarded-Uri) must not be judged against /v1.0/aicalls (the client's X-Original-URI).
    tenant = await make_customer(runtime)
    direct = await make_direct(runtime, tenant.customer.id)
    widget = await boot(client, direct.hash)
    smuggled = {"X-Forwarded-Uri": "/v1.0/calls", "X-Original-URI": "/v1.0/aicalls"}
    response = await client.get("/auth/verify", headers={**smuggled, **bearer(widget)})
    assert_error(response, 400, "AMBIGUOUS_ORIGINAL_REQUEST")
    response = await client.get(
        "/auth/verify/v1.0/aicalls", headers={"X-Forwarded-Uri": "/v1.0/calls", **bearer(widget)}
    )
    assert_error(response, 400, "AMBIGUOUS_ORIGINAL_REQUEST")


@pytest.mark.parametrize(
    ("style", "status"),
    [("traefik", 403), ("nginx", 200), ("envoy", 404)],  # envoy: "/auth/verify" names nothing
)
async def test_a_configured_convention_reads_only_its_own_header(
    client: httpx.AsyncClient, runtime: Runtime, tmp_path: Path, style: str, status: int
) -> None:
    tenant = await make_customer(runtime)
    direct = await make_direct(runtime, tenant.customer.id)
    widget = await boot(client, direct.hash)
    own = Runtime.build(make_settings(runtime.settings.database_url, tmp_path, forward_auth=style))
    await own.start()
    transport = httpx.ASGITransport(app=create_app(runtime=own))
    try:
        async with httpx.AsyncClient(transport=transport, base_url=BASE_URL) as http:
            response = await http.get(
                "/auth/verify",
                headers={
                    "X-Forwarded-Uri": "/v1.0/calls",
                    "X-Original-URI": "/v1.0/aicalls",
                    **bearer(widget),
                },
            )
    finally:
        await own.close()
    assert response.status_code == status, response.text
