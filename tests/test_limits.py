"""Abuse limits on running servers: each rate tier, the login throttle, the mail bound, the
hashing bound, and the customer tier and throttle shared by two instances over Redis.

The servers trust 127.0.0.1 as a proxy, so each test speaks for a client address of its own
(``X-Forwarded-For``) and starts with full buckets.
"""

from __future__ import annotations

import itertools
import json
import re
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.factories import PASSWORD
from tests.server import Server, cli, running_pair, running_server

REDIS_URL = "redis://127.0.0.1:6379/0"
_addresses = (f"198.51.100.{n}" for n in itertools.count(1))


def new_client_address() -> str:
    return next(_addresses)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    with running_server(
        tmp_path_factory.mktemp("limits"),
        VBAUTH_TRUSTED_PROXIES="127.0.0.1/32",
        VBAUTH_RATE_LIMIT_AUTH_PUBLIC="1/3",
        VBAUTH_RATE_LIMIT_AUTH_PROTECTED="1/2",
        VBAUTH_RATE_LIMIT_V1="1/4",
        VBAUTH_RATE_LIMIT_V1_CUSTOMER="1/3",
        VBAUTH_RATE_LIMIT_V1_CUSTOMER_DIRECT="1/2",
        VBAUTH_LOGIN_MAX_FAILURES="3",
    ) as server:
        yield server


class Caller:
    """Requests from one client address, through the trusted proxy (the test)."""

    def __init__(self, server: Server, address: str | None = None) -> None:
        self.base = server.base
        self.headers = {"X-Forwarded-For": address or new_client_address()}

    def request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        headers = {**self.headers, **kwargs.pop("headers", {})}
        return httpx.request(method, f"{self.base}{path}", headers=headers, **kwargs)

    def login(self, username: str, password: str = PASSWORD) -> httpx.Response:
        return self.request(
            "POST", "/auth/login", json={"username": username, "password": password}
        )


def assert_limited(response: httpx.Response, tier: str) -> None:
    assert response.status_code == 429, response.text
    error = response.json()["error"]
    assert (error["status"], error["reason"]) == ("RESOURCE_EXHAUSTED", "RATE_LIMIT_EXCEEDED")
    assert error["details"] == [{"tier": tier}]
    assert int(response.headers["retry-after"]) >= 1
    assert error["request_id"] == response.headers["x-request-id"]


def customer(server: Server) -> tuple[str, str]:
    """A new customer's admin: (username, login token), from an address of its own."""
    email = f"limits-{uuid.uuid4().hex[:10]}@example.com"
    code, output = cli(server, "customer", "create", "--email", email, "--admin-password", PASSWORD)
    assert code == 0, output
    response = Caller(server).login(email)
    assert response.status_code == 200, response.text
    return email, str(response.json()["token"])


def test_public_auth_routes_share_the_client_tier(server: Server) -> None:
    caller = Caller(server)
    for _ in range(3):  # the burst: failed logins, a boot with a bad hash...
        assert caller.login(nobody(), "wrong password").status_code == 401
    assert_limited(caller.request("POST", "/auth/boot", json={"direct_hash": "x"}), "auth_public")
    assert_limited(caller.login(nobody()), "auth_public")
    # Another client is not affected, and neither is what no tier covers.
    assert Caller(server).login(nobody(), "wrong").status_code == 401
    assert caller.request("GET", "/ping").status_code == 200
    assert caller.request("GET", "/.well-known/jwks.json").status_code == 200


def test_the_consoles_password_forms_count_as_logins_and_its_pages_do_not(
    server: Server,
) -> None:
    caller = Caller(server)
    with httpx.Client(base_url=server.base, headers=caller.headers) as browser:
        for _ in range(5):  # loading the sign-in page costs no attempt
            page = browser.get("/admin/signin")
            assert page.status_code == 200
        csrf = re.search(r'name="csrf" value="([^"]+)"', page.text)
        assert csrf
        form = {"username": nobody(), "password": "wrong", "csrf": csrf.group(1)}
        for _ in range(3):
            assert browser.post("/admin/signin", data=form).status_code == 401
        limited = browser.post("/admin/signin", data=form)
    assert limited.status_code == 429
    assert limited.headers["content-type"].startswith("text/html")  # a page, with a sentence
    assert "Too many attempts; try again in" in limited.text
    assert_limited(caller.login(nobody()), "auth_public")  # one tier with the API's logins


def test_a_forged_forwarded_for_from_an_untrusted_peer_or_cf_header_buys_nothing(
    server: Server,
) -> None:
    caller = Caller(server)
    for n in range(3):  # a new CF-Connecting-IP each time: it is not believed
        response = caller.request(
            "POST",
            "/auth/login",
            json={"username": nobody(), "password": "wrong"},
            headers={"CF-Connecting-IP": f"192.0.2.{n}"},
        )
        assert response.status_code == 401
    assert_limited(
        caller.request(
            "POST",
            "/auth/login",
            json={"username": nobody(), "password": "wrong"},
            headers={"CF-Connecting-IP": "192.0.2.200"},
        ),
        "auth_public",
    )


def test_protected_auth_routes_have_their_own_tier(server: Server) -> None:
    _, token = customer(server)
    caller = Caller(server)
    bad = {"Authorization": "Bearer not-a-token"}
    for _ in range(2):
        assert caller.request("POST", "/auth/logout", headers=bad).status_code == 401
    assert_limited(caller.request("POST", "/auth/logout", headers=bad), "auth_protected")
    # The public tier of the same client is untouched.
    assert caller.login(nobody(), "wrong").status_code == 401
    assert token


def test_v1_counts_every_request_of_a_client_before_authentication(server: Server) -> None:
    caller = Caller(server)
    for path in ("/v1.0/me", "/v1.0/calls", "/v1.0/customer", "/auth/verify"):
        response = caller.request("GET", path, headers={"X-Original-URI": "/v1.0/calls"})
        assert response.status_code == 401, (path, response.text)
    assert_limited(caller.request("GET", "/v1.0/me"), "v1")
    assert_limited(
        caller.request("GET", "/auth/verify", headers={"X-Original-URI": "/v1.0/calls"}), "v1"
    )


def test_agents_and_accesskeys_of_a_customer_share_its_tier_wherever_they_come_from(
    server: Server,
) -> None:
    _, token = customer(server)
    key = Caller(server).request(
        "POST", "/v1.0/accesskeys", params={"token": token}, json={"expire": 86400}
    )
    assert key.status_code == 200, key.text
    accesskey = key.json()["token"]
    # That was one; two more from other addresses (no client tier is near) spend the burst.
    assert Caller(server).request("GET", "/v1.0/me", params={"token": token}).status_code == 200
    response = Caller(server).request("GET", "/v1.0/customer", params={"accesskey": accesskey})
    assert response.status_code == 200
    assert_limited(
        Caller(server).request("GET", "/v1.0/customer", params={"accesskey": accesskey}),
        "v1_customer",
    )
    assert_limited(
        Caller(server).request("GET", "/v1.0/calls", params={"token": token}), "v1_customer"
    )
    # The refusals are in the audit log, once (written off the request's path).
    deadline = time.monotonic() + 10
    while not [
        e for e in audit_entries(server, "rate_limited") if e["details"]["tier"] == "v1_customer"
    ]:
        assert time.monotonic() < deadline, "no rate_limited entry"
        time.sleep(0.2)
    # Another customer has its own bucket.
    _, other = customer(server)
    assert Caller(server).request("GET", "/v1.0/me", params={"token": other}).status_code == 200


def test_direct_tokens_have_their_customers_direct_tier(server: Server) -> None:
    _, token = customer(server)
    created = Caller(server).request(
        "POST",
        "/v1.0/directs",
        params={"token": token},
        json={"resource_type": "ai", "resource_id": str(uuid.uuid4())},
    )
    widget = (
        Caller(server)
        .request("POST", "/auth/boot", json={"direct_hash": created.json()["hash"]})
        .json()["token"]
    )
    for _ in range(2):
        response = Caller(server).request("GET", "/v1.0/aicalls", params={"token": widget})
        assert response.status_code == 200, response.text
    assert_limited(
        Caller(server).request("GET", "/v1.0/aicalls", params={"token": widget}),
        "v1_customer_direct",
    )
    # The customer's agents are not held back by its widgets.
    assert Caller(server).request("GET", "/v1.0/me", params={"token": token}).status_code == 200


def test_a_username_is_throttled_after_its_failures_known_or_not(server: Server) -> None:
    username, _ = customer(server)
    for name in (username, f"ghost-{uuid.uuid4().hex[:8]}@example.com"):
        for _ in range(3):  # each from its own address: the throttle is per account
            assert Caller(server).login(name, "wrong password").status_code == 401
        refused = Caller(server).login(name)  # the right password (for the real one) too
        assert refused.status_code == 429, refused.text
        error = refused.json()["error"]
        assert (error["reason"], error["details"]) == ("LOGIN_THROTTLED", [{"tier": "login"}])
        assert 55 <= int(refused.headers["retry-after"]) <= 60
    # Recorded once for the known username's customer, and the unknown one only as a digest.
    throttled = audit_entries(server, "login_throttled")
    assert any(e["details"].get("username") == username for e in throttled)
    assert all("ghost-" not in json.dumps(e) for e in throttled)
    # A success before the limit starts the count again.
    other, _ = customer(server)
    for _ in range(2):
        assert Caller(server).login(other, "wrong password").status_code == 401
    assert Caller(server).login(other).status_code == 200
    for _ in range(2):
        assert Caller(server).login(other, "wrong password").status_code == 401
    assert Caller(server).login(other).status_code == 200


def outbox(server: Server) -> list[dict[str, Any]]:
    code, output = cli(server, "outbox", "--body", "--limit", "1000", "--json")
    assert code == 0, output
    rows: list[dict[str, Any]] = json.loads(output)
    return rows


def audit_entries(server: Server, type: str) -> list[dict[str, Any]]:
    code, output = cli(server, "audit", "--type", type, "--limit", "1000", "--json")
    assert code == 0, output
    entries: list[dict[str, Any]] = json.loads(output)
    return entries


def nobody() -> str:
    """A username no agent has (each test its own: the throttle remembers failures)."""
    return f"nobody-{uuid.uuid4().hex[:8]}@example.com"


def test_mail_to_one_address_is_bounded_and_one_reset_link_lives(server: Server) -> None:
    username, _ = customer(server)
    for _ in range(5):  # from five addresses: the bound is per recipient, whoever asks
        response = Caller(server).request(
            "POST", "/auth/password-forgot", json={"username": username}
        )
        assert (response.status_code, response.json()) == (200, {})
    resets = [m for m in outbox(server) if m["to"] == username and m["purpose"] == "password_reset"]
    assert len(resets) == 3
    links = sorted(resets, key=lambda m: m["created"])
    tokens = [m["body"].split("token=")[1].split()[0] for m in links]
    for old in tokens[:-1]:  # each new link ended the one before
        response = Caller(server).request(
            "POST", "/auth/password-reset", json={"token": old, "password": "a new password!"}
        )
        assert response.status_code == 400, response.text
    response = Caller(server).request(
        "POST", "/auth/password-reset", json={"token": tokens[-1], "password": "a new password!"}
    )
    assert response.status_code == 200, response.text


def test_signups_squatting_an_address_send_it_a_few_notices_at_most(server: Server) -> None:
    username, _ = customer(server)
    for _ in range(5):
        response = Caller(server).request(
            "POST", "/auth/signup", json={"email": username, "accepted_tos": True}
        )
        assert response.status_code == 200, response.text
    notices = [
        m for m in outbox(server) if m["to"] == username and m["purpose"] == "signup_existing"
    ]
    assert len(notices) == 3


def test_the_hashing_bound_turns_a_login_storm_into_503s(tmp_path: Path) -> None:
    with running_server(
        tmp_path,
        VBAUTH_ARGON2_MEMORY_KIB="8192",
        VBAUTH_ARGON2_TIME_COST="20",
        VBAUTH_HASH_CONCURRENCY="1",
        VBAUTH_HASH_QUEUE="1",
    ) as slow:
        email = "storm@example.com"
        cli(slow, "customer", "create", "--email", email, "--admin-password", PASSWORD)
        body = {"username": email, "password": PASSWORD}
        with ThreadPoolExecutor(8) as pool:
            answers = list(
                pool.map(
                    lambda _: httpx.post(f"{slow.base}/auth/login", json=body, timeout=60), range(8)
                )
            )
        statuses = sorted(response.status_code for response in answers)
        assert 200 in statuses and 503 in statuses, statuses
        busy = next(response for response in answers if response.status_code == 503)
        assert busy.json()["error"]["reason"] == "SERVICE_BUSY"
        assert busy.headers["retry-after"] == "1"
        assert httpx.get(f"{slow.base}/ping").status_code == 200


@pytest.fixture(scope="module")
def pair(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Server, Server]]:
    """Two instances on one database and one Redis."""
    with running_pair(
        tmp_path_factory,
        "limits",
        VBAUTH_REDIS_URL=REDIS_URL,
        VBAUTH_RATE_LIMIT_V1_CUSTOMER="1/4",
        VBAUTH_LOGIN_MAX_FAILURES="3",
    ) as servers:
        yield servers


def test_the_customer_tier_is_shared_by_every_instance_over_redis(
    pair: tuple[Server, Server],
) -> None:
    first, second = pair
    username, token = customer(first)
    for server in (first, second, first, second):  # four: the burst, split across instances
        response = httpx.get(f"{server.base}/v1.0/me", params={"token": token})
        assert response.status_code == 200, response.text
    for server in (first, second):
        assert_limited(httpx.get(f"{server.base}/v1.0/me", params={"token": token}), "v1_customer")
    assert username


def test_the_login_throttle_is_shared_by_every_instance_over_redis(
    pair: tuple[Server, Server],
) -> None:
    first, second = pair
    name = f"shared-{uuid.uuid4().hex[:8]}@example.com"
    for server in (first, second, first):
        assert Caller(server).login(name, "wrong password").status_code == 401
    for server in (first, second):
        refused = Caller(server).login(name)
        assert refused.status_code == 429
        assert refused.json()["error"]["reason"] == "LOGIN_THROTTLED"
    assert "wrong password" not in first.log.read_text()  # no attempt is logged with it
