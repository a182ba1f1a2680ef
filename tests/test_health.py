"""Liveness, request ids, unknown routes and methods: the envelope everywhere (reference §8)."""

from __future__ import annotations

import re

import httpx
import pytest

from tests.factories import assert_error
from tests.server import free_port
from vbauth import health
from vbauth.runtime import Runtime

REQUEST_ID = re.compile(r"req_[A-Z2-7]{26}")

pytestmark = pytest.mark.anyio


async def test_ping_answers_pong(client: httpx.AsyncClient) -> None:
    response = await client.get("/ping")
    assert response.status_code == 200
    assert response.text == "pong"


async def test_readiness_checks_the_database_and_its_schema(client: httpx.AsyncClient) -> None:
    response = await client.get("/health/ready")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "checks": {"database": "ok", "migrations": "ok"}}
    live = await client.get("/health/live")
    assert live.json() == {"status": "ok"}


async def test_a_schema_behind_the_code_is_not_ready_and_says_so(
    client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(health, "latest_revision", lambda: "9999")  # code newer than the schema
    response = await client.get("/health/ready")
    error = assert_error(response, 503, "NOT_READY")
    assert error["message"] == "Not ready: migrations."
    [detail] = error["details"]  # type: ignore[misc]
    assert detail["check"] == "migrations" and "vbauth migrate" in detail["problem"]
    assert response.headers["retry-after"] == "5"


async def test_without_redis_it_is_ready_but_degraded(
    client: httpx.AsyncClient, runtime: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(runtime.settings, "redis_url", f"redis://127.0.0.1:{free_port()}/0")
    response = await client.get("/health/ready")
    assert response.status_code == 200  # served on with local limits, events, invalidation
    body = response.json()
    assert body["status"] == "degraded"
    assert body["checks"]["redis"].startswith("unreachable")
    assert body["checks"]["database"] == "ok"


async def test_a_request_id_is_generated_when_absent(client: httpx.AsyncClient) -> None:
    response = await client.get("/ping")
    assert REQUEST_ID.fullmatch(response.headers["x-request-id"])


async def test_a_safe_request_id_is_echoed_up_to_64_characters(client: httpx.AsyncClient) -> None:
    for inbound in ("abc-123_XYZ", "a" * 64):
        response = await client.get("/ping", headers={"X-Request-Id": inbound})
        assert response.headers["x-request-id"] == inbound


async def test_an_unsafe_request_id_is_replaced(client: httpx.AsyncClient) -> None:
    for inbound in ("a" * 65, "has space", "semi;colon", "\u00fcn\u00efcode".encode(), "<script>"):
        response = await client.get("/ping", headers={"X-Request-Id": inbound})
        assert REQUEST_ID.fullmatch(response.headers["x-request-id"]), inbound


async def test_unknown_routes_answer_route_not_found(client: httpx.AsyncClient) -> None:
    for path in ("/nope", "/v1.0/nothing-here", "/v1.0/auth/login"):
        response = await client.get(path)
        error = assert_error(response, 404, "ROUTE_NOT_FOUND")
        assert error["status"] == "NOT_FOUND"
        assert "details" not in error


async def test_a_wrong_method_answers_405_with_allow(client: httpx.AsyncClient) -> None:
    response = await client.delete("/ping")
    assert_error(response, 405, "METHOD_NOT_ALLOWED")
    assert "GET" in response.headers["allow"]
    response = await client.get("/auth/login")
    assert_error(response, 405, "METHOD_NOT_ALLOWED")


async def test_every_answer_carries_each_security_header_once(
    client: httpx.AsyncClient,
) -> None:
    for _ in range(3):  # /ping's answer is a shared constant: nothing may pile onto it
        response = await client.get("/ping")
        assert response.headers.get_list("x-content-type-options") == ["nosniff"]
        assert response.headers.get_list("cache-control") == ["no-store"]
        assert len(response.headers.get_list("x-request-id")) == 1


async def test_a_schema_a_newer_release_migrated_is_still_ready(
    client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Rolling upgrades migrate first: the instances still on the old release serve on."""
    monkeypatch.setattr(health, "latest_revision", lambda: "0001")  # this code is older
    monkeypatch.setattr(health, "_known_revision", lambda revision: revision == "0001")
    response = await client.get("/health/ready")
    assert response.status_code == 200
    assert response.json()["checks"]["migrations"] == "ok"
