"""POST /auth/login (reference §1.2, design §6.1, §6.3)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable
from datetime import timedelta
from pathlib import Path

import httpx
import jwt
import pytest
from sqlalchemy import select

from tests.conftest import BASE_URL, make_settings
from tests.factories import PASSWORD, assert_error, bearer, login, make_agent, make_customer
from vbauth import clock
from vbauth.app import create_app
from vbauth.models import Agent, LoginSession
from vbauth.runtime import Runtime
from vbauth.security.passwords import Passwords
from vbauth.services import agents as agent_service

pytestmark = pytest.mark.anyio


async def test_login_returns_username_token_and_a_strict_cookie(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    tenant = await make_customer(runtime)
    response = await client.post(
        "/auth/login", json={"username": tenant.admin.username, "password": PASSWORD}
    )
    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"username", "token"}
    assert body["username"] == tenant.admin.username
    cookie = response.headers["set-cookie"]
    assert cookie.startswith(f"token={body['token']};")
    for flag in ("HttpOnly", "Max-Age=604800", "Path=/", "SameSite=strict", "Secure"):
        assert flag in cookie
    assert response.headers["cache-control"] == "no-store"


async def test_the_token_follows_rfc_8725_and_holds_no_pii(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    tenant = await make_customer(runtime)
    response = await client.post(
        "/auth/login", json={"username": tenant.admin.username, "password": PASSWORD}
    )
    token = response.json()["token"]
    header = jwt.get_unverified_header(token)
    claims = jwt.decode(token, options={"verify_signature": False})
    assert header["alg"] == "EdDSA"
    assert header["kid"]
    assert claims["exp"] == claims["iat"] + 604800
    assert {"nbf", "jti", "iss", "aud", "sid"} <= set(claims)
    assert claims["typ"] == "login"
    assert claims["sub"] == str(tenant.admin.id)
    assert tenant.admin.username not in str(claims)
    assert "permission" not in claims


async def test_login_opens_a_session_with_the_client_address(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    tenant = await make_customer(runtime)
    response = await client.post(
        "/auth/login",
        json={"username": tenant.admin.username, "password": PASSWORD},
        headers={"User-Agent": "pytest", "X-Forwarded-For": "198.51.100.1"},
    )
    sid = jwt.decode(response.json()["token"], options={"verify_signature": False})["sid"]
    async with runtime.transaction(write=False) as session:
        login_session = await session.get(LoginSession, uuid.UUID(sid))
    assert login_session is not None
    # The forwarded header is ignored: the test client is no trusted proxy.
    assert login_session.client_ip == "203.0.113.7"
    assert login_session.user_agent == "pytest"
    assert login_session.tm_expire - login_session.tm_create == timedelta(days=7)


async def test_usernames_match_without_case_or_surrounding_space(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    tenant = await make_customer(runtime)
    username = f"  {tenant.admin.username.upper()} "
    response = await client.post("/auth/login", json={"username": username, "password": PASSWORD})
    assert response.status_code == 200
    assert response.json()["username"] == username  # echoed as sent, as VoIPBIN does


@pytest.mark.parametrize("password", ["wrong password", PASSWORD.upper(), PASSWORD + " ", "x"])
async def test_a_wrong_password_is_401_invalid_credentials(
    client: httpx.AsyncClient, runtime: Runtime, password: str
) -> None:
    tenant = await make_customer(runtime)
    response = await client.post(
        "/auth/login", json={"username": tenant.admin.username, "password": password}
    )
    error = assert_error(response, 401, "INVALID_CREDENTIALS")
    assert error["status"] == "UNAUTHENTICATED"
    assert response.headers["www-authenticate"].startswith("Bearer")
    assert "set-cookie" not in response.headers


async def test_an_unknown_user_looks_exactly_like_a_wrong_password(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    tenant = await make_customer(runtime)
    unknown = await client.post(
        "/auth/login", json={"username": "nobody@example.com", "password": PASSWORD}
    )
    wrong = await client.post(
        "/auth/login", json={"username": tenant.admin.username, "password": "not it at all"}
    )
    assert unknown.status_code == wrong.status_code == 401
    strip = lambda r: {k: v for k, v in r.json()["error"].items() if k != "request_id"}  # noqa: E731
    assert strip(unknown) == strip(wrong)


async def test_an_overlong_password_is_refused_like_any_wrong_one(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    tenant = await make_customer(runtime)
    response = await client.post(
        "/auth/login", json={"username": tenant.admin.username, "password": "x" * 2000}
    )
    assert_error(response, 401, "INVALID_CREDENTIALS")


async def test_an_agent_without_a_password_cannot_log_in(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    tenant = await make_customer(runtime)
    async with runtime.transaction() as session:
        agent = await agent_service.insert(
            session,
            passwords=runtime.passwords,
            customer_id=tenant.customer.id,
            username="nopass@example.com",
            password=None,
            permission=16,
        )
    response = await client.post("/auth/login", json={"username": agent.username, "password": ""})
    assert response.status_code == 400
    response = await client.post(
        "/auth/login", json={"username": agent.username, "password": "anything at all"}
    )
    assert_error(response, 401, "INVALID_CREDENTIALS")


async def test_deleted_agents_and_dead_customers_cannot_log_in(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    for status in ("deleted", "expired"):
        tenant = await make_customer(runtime, status=status)
        response = await client.post(
            "/auth/login", json={"username": tenant.admin.username, "password": PASSWORD}
        )
        assert_error(response, 401, "INVALID_CREDENTIALS")
    tenant = await make_customer(runtime)
    agent = await make_agent(runtime, tenant.customer.id)
    async with runtime.transaction() as session:
        stored = await session.get(Agent, agent.id)
        assert stored is not None
        stored.tm_delete = clock.now()
    response = await client.post(
        "/auth/login", json={"username": agent.username, "password": PASSWORD}
    )
    assert_error(response, 401, "INVALID_CREDENTIALS")


async def test_a_hash_made_with_old_parameters_is_upgraded_at_login(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    tenant = await make_customer(runtime)
    # A genuine hash of the same password, made with weaker parameters than the runtime's.
    old_hash = await Passwords(memory_kib=32, time_cost=1, parallelism=1).hash(PASSWORD)
    async with runtime.transaction() as session:
        agent = await session.get(Agent, tenant.admin.id)
        assert agent is not None
        agent.password_hash = old_hash
    response = await client.post(
        "/auth/login", json={"username": tenant.admin.username, "password": PASSWORD}
    )
    assert response.status_code == 200
    async with runtime.transaction(write=False) as session:
        new_hash = await session.scalar(select(Agent.password_hash).where(Agent.id == agent.id))
    assert new_hash != old_hash
    assert new_hash.startswith("$argon2id$v=19$m=64,t=1,p=1$")


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"{",
        b"null",
        b"[]",
        b'"text"',
        b"{}",
        b'{"username": "a@b.co"}',
        b'{"password": "x"}',
        b'{"username": "", "password": "x"}',
        b'{"username": "a@b.co", "password": ""}',
        b'{"username": 5, "password": "x"}',
        b'{"username": "a@b.co", "password": ["x"]}',
        b'{"username": "a@b.co", "password": null}',
        b'{"username": "a\\u0000b", "password": "x"}',
        b'{"username": "\\ud800", "password": "x"}',
    ],
)
async def test_a_bad_body_is_a_400_envelope(client: httpx.AsyncClient, body: bytes) -> None:
    response = await client.post(
        "/auth/login", content=body, headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 400, response.text
    assert response.json()["error"]["reason"] in ("INVALID_JSON_BODY", "INVALID_ARGUMENT")


async def test_the_body_is_json_whatever_the_content_type(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    tenant = await make_customer(runtime)
    body = f'{{"username": "{tenant.admin.username}", "password": "{PASSWORD}"}}'
    for content_type in ("application/x-www-form-urlencoded", "text/plain", None):
        headers = {"Content-Type": content_type} if content_type else {}
        response = await client.post("/auth/login", content=body, headers=headers)
        assert response.status_code == 200, (content_type, response.text)


async def test_a_password_changed_during_the_check_opens_no_session(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    # The password is checked outside any transaction (a write lock must not wait on argon2);
    # the session is then opened only if the hash that was checked is still the agent's.
    tenant = await make_customer(runtime)

    async def change_the_password() -> None:
        await _set_hash(runtime, tenant.admin.id, "a brand new password")

    response = await _login_while(client, runtime, tenant.admin.username, change_the_password)
    assert_error(response, 401, "INVALID_CREDENTIALS")
    async with runtime.transaction(write=False) as session:
        opened = await session.scalar(
            select(LoginSession.id).where(LoginSession.agent_id == tenant.admin.id)
        )
    assert opened is None


async def test_logins_past_the_hashing_bound_get_503_with_retry_after(
    runtime: Runtime, tmp_path: Path
) -> None:
    own = Runtime.build(
        make_settings(
            str(runtime.settings.effective_database_url),
            tmp_path,
            argon2_memory_kib=8192,
            argon2_time_cost=40,  # a few hundred ms a login: long enough to overlap
            hash_concurrency=1,
            hash_queue=0,
        )
    )
    await own.start()
    tenant = await make_customer(own)
    body = {"username": tenant.admin.username, "password": PASSWORD}
    transport = httpx.ASGITransport(app=create_app(runtime=own))
    try:
        async with httpx.AsyncClient(transport=transport, base_url=BASE_URL) as http:
            first = asyncio.ensure_future(http.post("/auth/login", json=body))
            for _ in range(5000):  # until the first login holds the only slot
                if own.passwords.in_flight or first.done():
                    break
                await asyncio.sleep(0.001)
            busy = await http.post("/auth/login", json=body)
            assert (await first).status_code == 200
    finally:
        await own.close()
    assert_error(busy, 503, "SERVICE_BUSY")
    assert busy.headers["retry-after"] == "1"


async def test_a_hash_upgraded_by_a_concurrent_login_does_not_fail_this_one(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    tenant = await make_customer(runtime)

    async def another_login_upgrades() -> None:  # the same password, hashed anew
        await _set_hash(runtime, tenant.admin.id, PASSWORD)

    response = await _login_while(client, runtime, tenant.admin.username, another_login_upgrades)
    assert response.status_code == 200, response.text


async def test_a_login_racing_a_password_change_does_not_outlive_it(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    # The change has written the new hash and ended the sessions it saw, but not committed yet,
    # when the login (its old password already checked) opens its session: the login must wait
    # for the agent's row, see the new hash, and fail, not slip a session past the change.
    tenant = await make_customer(runtime)
    changed, committed = asyncio.Event(), asyncio.Event()

    async def change_password_slowly() -> None:
        async with runtime.transaction() as session:
            agent = await session.get(Agent, tenant.admin.id)
            assert agent is not None
            agent.password_hash = await runtime.passwords.hash("a brand new password")
            await session.flush()
            await agent_service.revoke_sessions(session, agent_id=agent.id)
            changed.set()
            await asyncio.sleep(0.3)
        committed.set()

    async def start_the_change() -> None:
        race.append(asyncio.ensure_future(change_password_slowly()))
        await changed.wait()

    race: list[asyncio.Future[None]] = []
    response = await _login_while(client, runtime, tenant.admin.username, start_the_change)
    await race[0]
    assert committed.is_set()
    assert_error(response, 401, "INVALID_CREDENTIALS")
    async with runtime.transaction(write=False) as session:
        live = await session.scalar(
            select(LoginSession.id).where(
                LoginSession.agent_id == tenant.admin.id, LoginSession.tm_revoke.is_(None)
            )
        )
    assert live is None


@pytest.mark.parametrize(
    ("headers", "allowed"),
    [
        ({}, True),  # a script
        ({"Origin": BASE_URL}, True),  # vbauth's own page
        ({"Sec-Fetch-Site": "same-origin"}, True),
        ({"Origin": "https://evil.example"}, False),  # another site's form or fetch
        ({"Origin": "null"}, False),  # a sandboxed or file: page
        ({"Sec-Fetch-Site": "cross-site"}, False),  # a browser that sends no Origin
    ],
)
async def test_a_cross_site_login_is_refused(
    client: httpx.AsyncClient, runtime: Runtime, headers: dict[str, str], allowed: bool
) -> None:
    tenant = await make_customer(runtime)
    response = await client.post(
        "/auth/login",
        # What an HTML form posts: text/plain, read as JSON all the same.
        content=f'{{"username": "{tenant.admin.username}", "password": "{PASSWORD}"}}',
        headers={"Content-Type": "text/plain", **headers},
    )
    if allowed:
        assert response.status_code == 200, response.text
    else:
        assert_error(response, 403, "CROSS_SITE_REQUEST")
        assert "set-cookie" not in response.headers


async def test_the_public_urls_own_origin_may_log_in_behind_a_proxy_with_another_host(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    # nginx's proxy_pass sends Host: vbauth, while the browser's Origin is the public URL's.
    tenant = await make_customer(runtime)
    public = runtime.settings.public_url.rstrip("/")
    response = await client.post(
        "/auth/login",
        json={"username": tenant.admin.username, "password": PASSWORD},
        headers={"Origin": public, "Host": "vbauth-internal"},
    )
    assert response.status_code == 200, response.text


async def _login_while(
    client: httpx.AsyncClient,
    runtime: Runtime,
    username: str,
    meanwhile: Callable[[], Awaitable[None]],
) -> httpx.Response:
    """Log in with ``PASSWORD``, running ``meanwhile`` once between the password check and the
    opening of the session (where a concurrent change would land)."""
    real_verify = runtime.passwords.verify
    ran = False

    async def verify_then(stored_hash, password):  # type: ignore[no-untyped-def]
        nonlocal ran
        result = await real_verify(stored_hash, password)
        if not ran:
            ran = True
            await meanwhile()
        return result

    runtime.passwords.verify = verify_then  # type: ignore[method-assign]
    try:
        return await client.post("/auth/login", json={"username": username, "password": PASSWORD})
    finally:
        del runtime.passwords.verify


async def _set_hash(runtime: Runtime, agent_id: uuid.UUID, password: str) -> None:
    async with runtime.transaction() as session:
        agent = await session.get(Agent, agent_id)
        assert agent is not None
        agent.password_hash = await runtime.passwords.hash(password)


async def test_guesses_sent_at_once_cannot_outrun_the_login_throttle(
    runtime: Runtime, tmp_path: Path
) -> None:
    # An attack review sent 60 guesses in parallel past a limit of 5: each was checked before
    # any had failed, so all 60 were tried. An attempt now counts before its password check.
    own = Runtime.build(
        make_settings(str(runtime.settings.effective_database_url), tmp_path, login_max_failures=5)
    )
    await own.start()
    tenant = await make_customer(own)
    body = {"username": tenant.admin.username, "password": "not the password"}
    transport = httpx.ASGITransport(app=create_app(runtime=own))
    try:
        async with httpx.AsyncClient(transport=transport, base_url=BASE_URL) as http:
            answers = await asyncio.gather(
                *(http.post("/auth/login", json=body) for _ in range(30))
            )
    finally:
        await own.close()
    statuses = sorted(answer.status_code for answer in answers)
    assert statuses == [401] * 5 + [429] * 25


async def test_unregistering_with_a_password_is_no_side_door_past_the_throttle(
    runtime: Runtime, tmp_path: Path
) -> None:
    # A review found POST /auth/unregister checked passwords with no throttle (and inside a
    # write transaction): a token holder could guess the password there for ever.
    own = Runtime.build(
        make_settings(str(runtime.settings.effective_database_url), tmp_path, login_max_failures=3)
    )
    await own.start()
    tenant = await make_customer(own)
    transport = httpx.ASGITransport(app=create_app(runtime=own))
    try:
        async with httpx.AsyncClient(transport=transport, base_url=BASE_URL) as http:
            token = await login(http, tenant.admin.username)
            wrong = {"password": "not the password"}
            statuses = [
                (await http.post("/auth/unregister", json=wrong, headers=bearer(token))).status_code
                for _ in range(4)
            ]
            locked = await http.post(
                "/auth/login", json={"username": tenant.admin.username, "password": PASSWORD}
            )
    finally:
        await own.close()
    assert statuses == [400, 400, 400, 429]
    assert_error(locked, 429, "LOGIN_THROTTLED")
