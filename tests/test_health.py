"""Liveness, request ids, unknown routes and methods: the envelope everywhere (reference §8)."""

from __future__ import annotations

import re

import httpx
import pytest

from tests.factories import assert_error

REQUEST_ID = re.compile(r"req_[A-Z2-7]{26}")

pytestmark = pytest.mark.anyio


async def test_ping_answers_pong(client: httpx.AsyncClient) -> None:
    response = await client.get("/ping")
    assert response.status_code == 200
    assert response.text == "pong"


async def test_readiness_checks_the_database(client: httpx.AsyncClient) -> None:
    response = await client.get("/health/ready")
    assert response.json() == {"status": "ok"}


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
