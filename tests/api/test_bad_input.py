"""No input of any shape gets a 500: every endpoint, every odd body, every odd parameter."""

from __future__ import annotations

import asyncio
import json
import re
import uuid

import httpx
import pytest
from fastapi import FastAPI
from fastapi.routing import APIRoute

from tests.factories import bearer, login, make_customer, make_superadmin
from vbauth.api import front, gates
from vbauth.runtime import Runtime

pytestmark = pytest.mark.anyio

DEEP = b"[" * 100_000 + b"]" * 100_000
EVIL_BODIES: list[bytes] = [
    b"",
    b"\xff\xfe\x00garbage",
    b"{",
    b"nul\x00l",
    DEEP,
    b'{"a":' * 5000 + b"1" + b"}" * 5000,
    json.dumps({"username": "' OR 1=1 --", "password": "'; DROP TABLE agents; --"}).encode(),
    json.dumps({"name": "\u202e\u0000", "email": "a@b.co\u0000"}).encode(),
    b'{"name": "\\ud800\\udc00\\ud800"}',
    json.dumps({"permission": 10**40, "expire": -(10**40)}).encode(),
    json.dumps({"permission": 1e308, "name": 1e308}).encode(),
    b'{"permission": NaN, "name": Infinity}',
    json.dumps({"name": ["x"] * 10_000}).encode(),
    json.dumps({"email": "x" * 100_000 + "@example.com"}).encode(),
    json.dumps({"username": "\U0001f600" * 300, "password": "\U0001f600" * 300}).encode(),
    json.dumps({"tag_ids": [str(uuid.uuid4())] * 1000, "addresses": [{}] * 1000}).encode(),
    json.dumps({"addresses": [{"type": "tel", "target": {"nested": True}}]}).encode(),
    json.dumps([{"username": "a"}]).encode(),
    b"1e999999",
    b'"just a string"',
    b"true",
]

ENDPOINTS = [
    ("POST", "/auth/login"),
    ("POST", "/auth/logout"),
    ("PUT", "/v1.0/customer"),
    ("POST", "/v1.0/customers"),
    ("PUT", "/v1.0/customers/{customer}"),
    ("POST", "/v1.0/agents"),
    ("PUT", "/v1.0/agents/{agent}"),
    ("PUT", "/v1.0/agents/{agent}/permission"),
    ("PUT", "/v1.0/agents/{agent}/password"),
]


def _assert_clean_4xx(response: httpx.Response) -> None:
    assert 400 <= response.status_code < 500, (response.status_code, response.text[:300])
    error = response.json()["error"]
    assert error["request_id"] == response.headers["x-request-id"]
    assert "Traceback" not in response.text


async def test_every_body_endpoint_refuses_evil_bodies_cleanly(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    root = await make_superadmin(runtime)
    tenant = await make_customer(runtime)
    headers = bearer(await login(client, root.username))
    for method, template in ENDPOINTS:
        path = template.format(customer=tenant.customer.id, agent=tenant.admin.id)
        for body in EVIL_BODIES:
            response = await client.request(method, path, content=body, headers=headers)
            if response.status_code == 200:
                continue  # e.g. logout, or a body whose unknown keys are ignored
            _assert_clean_4xx(response)


async def test_a_body_over_the_limit_is_413(client: httpx.AsyncClient) -> None:
    response = await client.post("/auth/login", content=b'{"username": "' + b"x" * 2_000_000)
    _assert_clean_4xx(response)
    assert response.status_code == 413
    assert response.json()["error"]["reason"] == "REQUEST_TOO_LARGE"


@pytest.mark.parametrize(
    "params",
    [
        {"page_size": "9" * 400},
        {"page_size": "-0"},
        {"page_size": "0x10"},
        {"page_token": "\x00"},
        {"page_token": "9999-99-99T99:99:99Z"},
        {"page_token": "x" * 10_000},
        {"status": "'; DROP TABLE agents; --"},
        {"tag_ids": "," * 5000},
        {"tag_ids": "\u0000,\ud7ff"},
        {"token": "\u0000"},
    ],
)
async def test_odd_query_parameters_never_500(
    client: httpx.AsyncClient, runtime: Runtime, params: dict[str, str]
) -> None:
    tenant = await make_customer(runtime)
    headers = bearer(await login(client, tenant.admin.username))
    response = await client.get("/v1.0/agents", params=params, headers=headers)
    assert response.status_code < 500, response.text


@pytest.mark.parametrize(
    "path",
    [
        "/v1.0/agents/%00",
        "/v1.0/agents/..%2F..%2Fetc%2Fpasswd",
        "/v1.0/agents/" + "a" * 5000,
        "/v1.0/agents/{00000000-0000-0000-0000-000000000001}",
        "/v1.0/customers/%F0%9F%98%80",
        "/v1.0/agents/1 OR 1=1",
    ],
)
async def test_odd_paths_never_500(client: httpx.AsyncClient, runtime: Runtime, path: str) -> None:
    root = await make_superadmin(runtime)
    headers = bearer(await login(client, root.username))
    response = await client.get(path, headers=headers)
    assert response.status_code in (400, 404), response.text


async def test_odd_credentials_never_500(client: httpx.AsyncClient) -> None:
    for value in ("\x7f", "e" * 60_000, "a.b.c.d.e", "eyJ.eyJ.", "Bearer Bearer x", "%00"):
        response = await client.get("/v1.0/me", params={"token": value})
        assert response.status_code == 401
        response = await client.get("/v1.0/me", headers={"Authorization": f"Bearer {value}"})
        assert response.status_code in (400, 401, 431)


async def test_a_streamed_body_over_the_limit_is_413(client: httpx.AsyncClient) -> None:
    async def chunks():  # type: ignore[no-untyped-def]
        for _ in range(40):
            yield b"x" * 65_536

    response = await client.post("/auth/login", content=chunks())
    assert response.status_code == 413
    assert response.json()["error"]["reason"] == "REQUEST_TOO_LARGE"


async def test_found_by_review_never_500(client: httpx.AsyncClient, runtime: Runtime) -> None:
    tenant = await make_customer(runtime)
    headers = bearer(await login(client, tenant.admin.username))
    response = await client.get(
        "/v1.0/agents", headers=headers, params={"page_token": "0001-01-01T00:00:00+01:00"}
    )
    assert response.status_code == 400
    nested = b'{"username": ' + b"[" * 5000 + b"]" * 5000 + b', "password": "x"}'
    response = await client.post("/auth/login", content=nested)
    assert response.status_code == 400
    response = await client.get("/auth/verify", headers={"X-Original-URI": "//["})
    assert response.status_code == 400  # an empty segment: INVALID_PATH, never a 500


@pytest.mark.parametrize(
    "headers",
    [
        [(f"x-h{number}", "1") for number in range(120)],  # too many
        [("x-big", "x" * 20_000)],  # too large
    ],
)
async def test_headers_past_the_limits_get_431_before_anything_else(
    client: httpx.AsyncClient, headers: list[tuple[str, str]]
) -> None:
    response = await client.get("/v1.0/me", headers=headers)
    assert response.status_code == 431
    assert response.json()["error"]["reason"] == "HEADERS_TOO_LARGE"
    assert response.headers["x-request-id"] == response.json()["error"]["request_id"]


@pytest.mark.parametrize("path", ["/auth/login", "/v1.0/calls"])  # FastAPI, and the gateway
async def test_a_body_that_stops_arriving_is_408_not_held_open(
    client: httpx.AsyncClient,
    runtime: Runtime,
    monkeypatch: pytest.MonkeyPatch,
    path: str,
) -> None:
    monkeypatch.setattr(front, "BODY_PAUSE_SECONDS", 0.2)
    tenant = await make_customer(runtime)
    headers = bearer(await login(client, tenant.admin.username))

    async def stalls():  # type: ignore[no-untyped-def]
        yield b'{"username": '
        await asyncio.sleep(5)  # longer than the pause allowed
        yield b'"x"}'

    response = await asyncio.wait_for(client.post(path, content=stalls(), headers=headers), 3)
    assert response.status_code == 408, response.text
    error = response.json()["error"]
    assert (error["status"], error["reason"]) == ("DEADLINE_EXCEEDED", "REQUEST_TIMEOUT")


def _routes_with_bodies(app: FastAPI) -> list[tuple[str, str, bool]]:
    """(method, path with ids filled in, whether it authenticates) of every route with a body."""
    found = []
    for route in app.routes:
        if not isinstance(route, APIRoute) or route.body_field is None:
            continue
        path = re.sub(r"\{[^}]+\}", str(uuid.uuid4()), route.path)
        guarded = bool(gates.gate_names(route.dependant))
        found.extend((method, path, guarded) for method in sorted(route.methods))
    return found


async def test_a_caller_without_a_good_credential_hears_401_before_its_body_is_judged(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    routes = _routes_with_bodies(app)
    guarded = [(method, path) for method, path, is_guarded in routes if is_guarded]
    assert ("POST", "/internal/events") in guarded and ("POST", "/v1.0/accesskeys") in guarded
    assert len(guarded) >= 15
    for method, path in guarded:
        for headers in ({}, bearer("not-a-token"), {"Authorization": "Bearer vb_" + "x" * 40}):
            response = await client.request(method, path, content=b"{", headers=headers)
            assert response.status_code == 401, (method, path, response.text)
            assert response.json()["error"]["status"] == "UNAUTHENTICATED"
    public = [(method, path) for method, path, is_guarded in routes if not is_guarded]
    assert ("POST", "/auth/login") in public
    for method, path in public:  # no credential to ask for: the body is what is wrong
        response = await client.request(method, path, content=b"{")
        assert response.status_code == 400, (method, path, response.text)
        assert response.json()["error"]["reason"] == "INVALID_JSON_BODY"


async def test_a_good_credential_then_hears_about_its_body(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    tenant = await make_customer(runtime)
    headers = bearer(await login(client, tenant.admin.username))
    response = await client.post("/v1.0/accesskeys", content=b"{", headers=headers)
    assert response.status_code == 400 and response.json()["error"]["reason"] == "INVALID_JSON_BODY"
