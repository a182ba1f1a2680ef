"""The admin console over HTTP: its cookie, CSRF, who reaches which page, and refusals said as
sentences. (In a real browser: ``tests/test_console_browser.py``.)"""

from __future__ import annotations

import re
import uuid
from datetime import timedelta
from http.cookies import SimpleCookie

import httpx
import pytest
from sqlalchemy import func, select

from tests.factories import (
    PASSWORD,
    bearer,
    boot,
    login,
    make_accesskey,
    make_agent,
    make_customer,
    make_direct,
    make_superadmin,
)
from vbauth import clock
from vbauth.models import AccessKey, Agent, AuditEvent, Customer
from vbauth.permissions import Permission
from vbauth.runtime import Runtime
from vbauth.services import lifecycle

pytestmark = pytest.mark.anyio

TYPE_CELL = '<td data-label="Type">'
CSRF = re.compile(r'name="csrf" value="([^"]+)"')
MANAGER = int(Permission.CUSTOMER_MANAGER)
# The tests' cookies are Secure (the default), so the names carry the __Host- prefix.
SESSION, NOTICE = "__Host-vbauth_console", "__Host-vbauth_console_notice"


class Console:
    """One browser's worth of console: its own cookies, and the CSRF token its pages carry."""

    def __init__(self, client: httpx.AsyncClient) -> None:
        self.http = httpx.AsyncClient(transport=client._transport, base_url=client.base_url)
        self.csrf = ""

    async def sign_in(self, username: str, password: str = PASSWORD) -> httpx.Response:
        page = await self.http.get("/admin/signin")
        return await self.http.post(
            "/admin/signin",
            data={"username": username, "password": password, "csrf": _csrf(page)},
        )

    async def signed_in(self, username: str) -> Console:
        answer = await self.sign_in(username)
        assert answer.status_code == 303, answer.text
        self.csrf = _csrf(await self.get("/admin/account"))
        return self

    async def get(self, path: str, **params: str) -> httpx.Response:
        return await self.http.get(path, params=params)

    async def post(self, path: str, **fields: str) -> httpx.Response:
        return await self.http.post(path, data={"csrf": self.csrf, **fields})

    @property
    def token(self) -> str:
        return self.http.cookies[SESSION]


def _csrf(page: httpx.Response) -> str:
    match = CSRF.search(page.text)
    assert match, page.text
    return match.group(1)


def _alert(page: httpx.Response) -> str:
    match = re.search(r'role="alert"[^>]*>([^<]*)<', page.text)
    assert match, page.text
    return match.group(1)


def _set_cookie(response: httpx.Response, name: str) -> SimpleCookie:
    for header in response.headers.get_list("set-cookie"):
        if header.startswith(name + "="):
            cookie: SimpleCookie = SimpleCookie()
            cookie.load(header)
            return cookie
    raise AssertionError(f"no {name} cookie set: {response.headers}")


async def _count(runtime: Runtime, model: type, **where: object) -> int:
    async with runtime.transaction(write=False) as session:
        query = select(func.count()).select_from(model).filter_by(**where)
        return int(await session.scalar(query) or 0)


# Signing in and out ------------------------------------------------------------------------


async def test_signing_in_sets_the_consoles_own_strict_cookie_which_the_api_ignores(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    tenant = await make_customer(runtime)
    console = Console(client)
    answer = await console.sign_in(tenant.admin.username)
    assert answer.status_code == 303 and answer.headers["location"] == "/admin"
    cookie = _set_cookie(answer, SESSION)[SESSION]
    assert cookie["httponly"] and cookie["secure"]
    assert cookie["samesite"].lower() == "strict"
    assert cookie["path"] == "/" and not cookie["domain"]  # what __Host- demands
    api = await client.get("/v1.0/me", headers={"Cookie": f"{SESSION}={console.token}"})
    assert api.status_code == 401  # the console's cookie is no credential of the API's
    home = await console.get("/admin")
    assert home.headers["location"] == "/admin/accesskeys"


async def test_a_sign_in_form_from_elsewhere_is_not_acted_on(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    tenant = await make_customer(runtime)
    fields = {"username": tenant.admin.username, "password": PASSWORD}
    no_cookie = await client.post("/admin/signin", data={**fields, "csrf": "x"})
    assert no_cookie.status_code == 400
    assert "accept cookies" in _alert(no_cookie)
    console = Console(client)
    page = await console.http.get("/admin/signin")
    wrong = await console.http.post("/admin/signin", data={**fields, "csrf": "forged"})
    assert wrong.status_code == 403 and "expired" in _alert(wrong)
    cross = await console.http.post(
        "/admin/signin",
        data={**fields, "csrf": _csrf(page)},
        headers={"Origin": "https://evil.example"},
    )
    assert cross.status_code == 403 and "another site" in _alert(cross)
    assert SESSION not in console.http.cookies
    assert (
        await _count(runtime, AuditEvent, type="login_succeeded", customer_id=tenant.customer.id)
        == 0
    )


async def test_a_wrong_password_is_a_sentence_on_the_sign_in_page(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    tenant = await make_customer(runtime)
    answer = await Console(client).sign_in(tenant.admin.username, "not the password")
    assert answer.status_code == 401
    assert answer.headers["content-type"].startswith("text/html")
    assert _alert(answer) == "The username or password is not right."
    assert f'value="{tenant.admin.username}"' in answer.text  # kept; the password is not


async def test_signing_out_ends_the_login_session(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    tenant = await make_customer(runtime)
    console = await Console(client).signed_in(tenant.admin.username)
    token = console.token
    answer = await console.post("/admin/signout")
    assert answer.headers["location"] == "/admin/signin?signed_out=1"
    assert (await client.get("/v1.0/me", headers=bearer(token))).status_code == 401
    assert (await console.get("/admin/accesskeys")).headers["location"] == "/admin/signin"


async def test_the_console_ends_with_its_login_session(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    tenant = await make_customer(runtime)
    agent = await make_agent(runtime, tenant.customer.id)
    console = await Console(client).signed_in(agent.username)
    admin = bearer(await login(client, tenant.admin.username))
    changed = await client.put(
        f"/v1.0/agents/{agent.id}/password",
        json={"password": "a brand new password", "current_password": PASSWORD},
        headers=admin,
    )
    assert changed.status_code == 200, changed.text
    answer = await console.get("/admin/sessions")
    assert answer.status_code == 303
    assert answer.headers["location"] == "/admin/signin?ended=1"
    assert _set_cookie(answer, SESSION)[SESSION]["max-age"] == "0"


async def test_only_a_login_token_opens_the_console(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    tenant = await make_customer(runtime)
    direct = await make_direct(runtime, tenant.customer.id)
    superadmin = await make_superadmin(runtime)
    root = bearer(await login(client, superadmin.username))
    delegated = await client.post(
        "/auth/delegate",
        json={"customer_id": str(tenant.customer.id), "reason": "support ticket 42"},
        headers=root,
    )
    assert delegated.status_code == 200, delegated.text
    for credential in (
        await boot(client, direct.hash),
        await make_accesskey(runtime, tenant.customer.id),
        delegated.json()["token"],
    ):
        answer = await client.get(
            "/admin/accesskeys", headers={"Cookie": f"{SESSION}={credential}"}
        )
        assert answer.status_code == 303, credential[:12]
        assert answer.headers["location"].startswith("/admin/signin")


async def test_a_frozen_customers_agent_is_told_so_and_not_signed_in(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    tenant = await make_customer(runtime, status="frozen")
    console = Console(client)
    answer = await console.sign_in(tenant.admin.username)
    assert answer.status_code == 403
    assert "frozen" in _alert(answer)
    assert SESSION not in console.http.cookies


# Forms -----------------------------------------------------------------------------------------


async def test_a_form_without_this_sessions_csrf_token_changes_nothing(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    tenant = await make_customer(runtime)
    mine = await Console(client).signed_in(tenant.admin.username)
    other = await Console(client).signed_in(tenant.admin.username)
    altered = mine.csrf[:-1] + ("B" if mine.csrf.endswith("A") else "A")
    for token in ("", other.csrf, altered):
        answer = await mine.http.post("/admin/accesskeys", data={"csrf": token, "name": "x"})
        assert answer.status_code == 403
        assert _alert(answer) == "This form has expired; reload the page and try again."
    cross = await mine.http.post(
        "/admin/accesskeys",
        data={"csrf": mine.csrf, "name": "x", "expire_days": "30"},
        headers={"Origin": "https://evil.example", "Sec-Fetch-Site": "cross-site"},
    )
    assert cross.status_code == 403
    assert await _count(runtime, AccessKey, customer_id=tenant.customer.id) == 0


async def test_a_new_key_is_shown_once_and_only_to_the_session_that_made_it(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    tenant = await make_customer(runtime)
    console = await Console(client).signed_in(tenant.admin.username)
    made = await console.post("/admin/accesskeys", name="ci", detail="", expire_days="30")
    assert made.status_code == 303
    notice = made.cookies[NOTICE]
    shown = await console.get("/admin/accesskeys")
    key = re.search(r'id="new-key">(vb_\w+)<', shown.text)
    assert key, shown.text
    assert (await client.get("/v1.0/accesskeys", params={"accesskey": key.group(1)})).is_success
    again = await console.get("/admin/accesskeys")
    assert key.group(1) not in again.text  # the cookie was forgotten with the first showing
    thief = await Console(client).signed_in(tenant.admin.username)
    stolen = await thief.http.get(
        "/admin/accesskeys",
        headers={"Cookie": f"{SESSION}={thief.token}; {NOTICE}={notice}"},
    )
    assert stolen.status_code == 200 and key.group(1) not in stolen.text


async def test_refusals_and_bad_input_read_as_sentences(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    tenant = await make_customer(runtime)
    console = await Console(client).signed_in(tenant.admin.username)
    cases = [
        (
            console.post("/admin/accesskeys", name="n", expire_days="soon"),
            400,
            "Expires in (days): enter a whole number.",
        ),
        (
            console.post("/admin/accesskeys", name="n", expire_days="0"),
            400,
            "Expires in (days): from 1 to 3,653.",
        ),
        (console.post("/admin/accesskeys", name="n" * 300, expire_days="30"), 400, "Name:"),
        (
            console.post("/admin/directs", resource_type="ai", resource_id="nope"),
            400,
            "Resource ID:",
        ),
        (
            console.post("/admin/directs", resource_type="nonsense", resource_id=str(uuid.uuid4())),
            400,
            "resource_type must be one of",
        ),
        (
            console.post("/admin/agents", username="", password="x", permission="16"),
            400,
            "must be an email address",
        ),
        (
            console.get("/admin/audit", **{"from": "yesterday"}),
            400,
            "From: enter a date as YYYY-MM-DD.",
        ),
        (console.get("/admin/audit", type="made_up"), 400, "Type: choose one of the types"),
        (console.get("/admin/agents", before="garbage"), 404, "That page of the list"),
        (
            console.post(
                "/admin/agents", username="a@example.com", password="long enough", permission="1"
            ),
            403,
            "You may not grant these permission bits.",
        ),
    ]
    for pending, status, words in cases:
        answer = await pending
        assert answer.status_code == status, (words, answer.text)
        assert answer.headers["content-type"].startswith("text/html")
        assert words in _alert(answer), answer.text
    odd = await console.http.post(
        "/admin/accesskeys", content=b"csrf=\xff\xfe", headers={"Content-Type": "text/plain"}
    )
    assert odd.status_code == 400 and "could not be read" in _alert(odd)
    assert await _count(runtime, AccessKey, customer_id=tenant.customer.id) == 0


async def test_every_address_under_admin_answers_a_page_with_the_strict_policy(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    tenant = await make_customer(runtime)
    stranger = await make_customer(runtime)
    foreign_key = await make_accesskey(runtime, stranger.customer.id)
    async with runtime.transaction(write=False) as session:
        foreign_id = await session.scalar(
            select(AccessKey.id).where(AccessKey.customer_id == stranger.customer.id)
        )
    assert foreign_key
    console = await Console(client).signed_in(tenant.admin.username)
    signin = await Console(client).http.get("/admin/signin")
    assert "frame-ancestors 'none'" in signin.headers["content-security-policy"]
    for path, status in (
        ("/admin/nowhere", 404),
        ("/admin/accesskeys/not-a-uuid/delete", 404),
        (f"/admin/accesskeys/{foreign_id}/delete", 404),  # another customer's: not found
        (f"/admin/agents/{stranger.admin.id}", 404),
        ("/admin/accesskeys", 200),
    ):
        answer = await console.get(path)
        assert answer.status_code == status, path
        assert answer.headers["content-type"].startswith("text/html"), path
        policy = answer.headers["content-security-policy"]
        assert "frame-ancestors 'none'" in policy and "script-src 'self'" in policy, path
        assert "default-src 'none'" in policy
    deleted = await console.post(f"/admin/accesskeys/{foreign_id}/delete")
    assert deleted.status_code == 404
    assert await _count(runtime, AccessKey, customer_id=stranger.customer.id) == 1


# Who sees what -------------------------------------------------------------------------------


async def test_a_manager_reaches_no_access_key_page_and_grants_no_admin(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    tenant = await make_customer(runtime)
    manager = await make_agent(runtime, tenant.customer.id, permission=MANAGER)
    agent = await make_agent(runtime, tenant.customer.id)
    console = await Console(client).signed_in(manager.username)
    page = await console.get("/admin/agents")
    assert "/admin/accesskeys" not in page.text and "/admin/audit" not in page.text
    assert (await console.get("/admin/accesskeys")).status_code == 403
    made = await console.post("/admin/accesskeys", name="sneaky", expire_days="30")
    assert made.status_code == 403
    assert await _count(runtime, AccessKey, customer_id=tenant.customer.id) == 0
    grant = await console.post(f"/admin/agents/{agent.id}/permission", permission="32")
    assert grant.status_code == 403
    assert "may not grant" in _alert(grant)
    admin_page = await console.post(f"/admin/agents/{tenant.admin.id}/permission", permission="16")
    assert admin_page.status_code == 403
    assert await _count(runtime, Agent, id=agent.id, permission=int(Permission.CUSTOMER_AGENT)) == 1


async def test_a_plain_agent_has_its_sessions_and_account_only(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    tenant = await make_customer(runtime)
    agent = await make_agent(runtime, tenant.customer.id)
    console = await Console(client).signed_in(agent.username)
    assert (await console.get("/admin")).headers["location"] == "/admin/sessions"
    for path in (
        "/admin/accesskeys",
        "/admin/agents",
        "/admin/directs",
        "/admin/audit",
        "/admin/customers",
        f"/admin/agents/{tenant.admin.id}",
    ):
        answer = await console.get(path)
        assert answer.status_code == 403, path
        assert "permission" in _alert(answer)
    assert (await console.get("/admin/account")).status_code == 200


async def test_a_superadmin_freezes_and_recovers_a_customer(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    tenant = await make_customer(runtime)
    root = await make_superadmin(runtime)
    console = await Console(client).signed_in(root.username)
    listing = await console.get("/admin/customers")
    assert f"/admin/customers/{tenant.customer.id}/freeze" in listing.text
    question = await console.get(f"/admin/customers/{tenant.customer.id}/freeze")
    assert "Freeze the customer" in question.text
    await console.post(f"/admin/customers/{tenant.customer.id}/freeze")
    assert await _count(runtime, Customer, id=tenant.customer.id, status="frozen") == 1
    await console.post(f"/admin/customers/{tenant.customer.id}/recover")
    assert await _count(runtime, Customer, id=tenant.customer.id, status="frozen") == 0


# Sessions, account, audit ----------------------------------------------------------------------


async def test_ending_sessions_from_the_console(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    tenant = await make_customer(runtime)
    console = await Console(client).signed_in(tenant.admin.username)
    first, second = [await login(client, tenant.admin.username) for _ in range(2)]
    page = await console.get("/admin/sessions")
    assert page.text.count("This session") == 1
    ids = re.findall(r'action="/admin/sessions/([0-9a-f-]{36})/end"', page.text)
    assert len(ids) == 2
    ended = await console.post(f"/admin/sessions/{ids[0]}/end")
    assert ended.status_code == 303
    alive = [(await client.get("/v1.0/me", headers=bearer(t))).status_code for t in (first, second)]
    assert sorted(alive) == [200, 401]
    await console.post("/admin/sessions/end-others")
    for token in (first, second):
        assert (await client.get("/v1.0/me", headers=bearer(token))).status_code == 401
    assert (await console.get("/admin/sessions")).status_code == 200  # its own stays


async def test_changing_ones_password_in_the_console(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    tenant = await make_customer(runtime)
    agent = await make_agent(runtime, tenant.customer.id)
    console = await Console(client).signed_in(agent.username)
    elsewhere = await login(client, agent.username)
    wrong = await console.post(
        "/admin/account/password", current_password="not it", password="a new passphrase"
    )
    assert wrong.status_code == 403 and _alert(wrong) == "The current password is not right."
    short = await console.post("/admin/account/password", password="short")
    assert short.status_code == 400 and "at least 8 characters" in _alert(short)
    done = await console.post(
        "/admin/account/password", current_password=PASSWORD, password="a new passphrase"
    )
    assert done.status_code == 303
    assert (await client.get("/v1.0/me", headers=bearer(elsewhere))).status_code == 401
    assert (await console.get("/admin/account")).status_code == 200
    await login(client, agent.username, "a new passphrase")


async def test_the_audit_log_filters_by_type_and_day(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    tenant = await make_customer(runtime)
    console = await Console(client).signed_in(tenant.admin.username)
    await console.post("/admin/accesskeys", name="audited", expire_days="30")
    only = await console.get("/admin/audit", type="accesskey_created")
    assert f"{TYPE_CELL}accesskey_created<" in only.text
    assert f"{TYPE_CELL}login_succeeded<" not in only.text
    since = (await console.get("/admin/audit", **{"from": "2000-01-01"})).text
    assert f"{TYPE_CELL}login_succeeded<" in since
    past = await console.get("/admin/audit", to="2000-01-01")
    assert "No entries match." in past.text


# What the reviews found --------------------------------------------------------------------


async def test_a_stale_sign_in_is_confirmed_with_the_password_not_a_dead_end(
    client: httpx.AsyncClient, runtime: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    tenant = await make_customer(runtime)
    console = await Console(client).signed_in(tenant.admin.username)
    stale = console.token
    later = clock.wall_clock() + timedelta(minutes=20)
    monkeypatch.setattr(clock, "wall_clock", lambda: later)
    refused = await console.http.post(
        "/admin/accesskeys",
        data={"csrf": console.csrf, "name": "late", "expire_days": "30"},
        headers={"Referer": "https://vbauth.test/admin/accesskeys"},
    )
    assert refused.status_code == 403
    assert "Confirm it is you" in refused.text
    assert 'name="back" value="/admin/accesskeys"' in refused.text
    wrong = await console.post("/admin/reauth", password="not it", back="/admin/accesskeys")
    assert wrong.status_code == 401 and _alert(wrong) == "The password is not right."
    confirmed = await console.post("/admin/reauth", password=PASSWORD, back="/admin/accesskeys")
    assert confirmed.status_code == 303
    assert confirmed.headers["location"] == "/admin/accesskeys"
    assert console.token != stale
    assert (await client.get("/v1.0/me", headers=bearer(stale))).status_code == 401
    console.csrf = _csrf(await console.get("/admin/accesskeys"))
    made = await console.post("/admin/accesskeys", name="late", expire_days="30")
    assert made.status_code == 303
    elsewhere = await console.post("/admin/reauth", password=PASSWORD, back="https://evil.example/")
    assert elsewhere.headers["location"] == "/admin"  # back only to the console itself


async def test_other_methods_get_a_page_that_says_so(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    for method, path, status in (
        ("POST", "/admin/audit", 405),
        ("PUT", "/admin/signin", 405),
        ("DELETE", "/admin/accesskeys", 405),
        ("POST", "/admin/nowhere", 404),
        ("PATCH", "/admin/accesskeys/x/y", 404),
    ):
        answer = await client.request(method, path)
        assert answer.status_code == status, (method, path)
        assert answer.headers["content-type"].startswith("text/html"), (method, path)
        if status == 405:
            assert "GET" in answer.headers["allow"]


async def test_the_field_at_fault_is_marked_and_named(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    tenant = await make_customer(runtime)
    console = await Console(client).signed_in(tenant.admin.username)
    answer = await console.post("/admin/accesskeys", name="n", expire_days="99999")
    assert answer.status_code == 400
    assert answer.text.startswith("<!doctype html>")
    assert "<title>Error: Access keys" in answer.text
    expire = re.search(r'<input id="key-expire"[^>]*>', answer.text)
    assert expire and 'aria-invalid="true"' in expire.group(0)
    assert 'aria-describedby="key-expire-hint form-error"' in expire.group(0)
    name = re.search(r'<input id="key-name"[^>]*>', answer.text)
    assert name and "aria-invalid" not in name.group(0)
    early = await console.get("/admin/audit", **{"from": "2026-02-02", "to": "2026-02-01"})
    assert early.status_code == 400 and "must not be after" in _alert(early)


async def test_a_manager_is_told_why_an_admin_cannot_be_changed(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    tenant = await make_customer(runtime)
    manager = await make_agent(runtime, tenant.customer.id, permission=MANAGER)
    agent = await make_agent(runtime, tenant.customer.id)
    console = await Console(client).signed_in(manager.username)
    admin_page = await console.get(f"/admin/agents/{tenant.admin.id}")
    assert "rights you cannot grant" in admin_page.text
    assert "Set password" not in admin_page.text and "Save permissions" not in admin_page.text
    agent_page = await console.get(f"/admin/agents/{agent.id}")
    assert "Set password" in agent_page.text and "rights you cannot grant" not in agent_page.text


async def test_a_customer_frozen_meanwhile_is_said_so(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    tenant = await make_customer(runtime)
    console = await Console(client).signed_in(tenant.admin.username)
    async with runtime.transaction() as session:
        customer = await session.get(Customer, tenant.customer.id)
        assert customer is not None
        await lifecycle.freeze(session, customer=customer, by=None)
    answer = await console.get("/admin/accesskeys")
    assert answer.headers["location"] == "/admin/signin?frozen=1"
    page = await console.get("/admin/signin", frozen="1")
    assert "This account is frozen." in page.text


async def test_plain_http_away_from_this_machine_is_warned_about(
    app: object, runtime: Runtime
) -> None:
    transport = httpx.ASGITransport(app=app)  # type: ignore[arg-type]
    async with httpx.AsyncClient(transport=transport, base_url="http://console.example") as http:
        page = await http.get("/admin/signin")
    assert "needs HTTPS" in _alert(page)
    async with httpx.AsyncClient(transport=transport, base_url="http://localhost") as http:
        local = await http.get("/admin/signin")
    assert 'role="alert"' not in local.text  # browsers keep Secure cookies on localhost


async def test_a_notice_replayed_after_its_two_minutes_does_not_open(
    client: httpx.AsyncClient, runtime: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    tenant = await make_customer(runtime)
    console = await Console(client).signed_in(tenant.admin.username)
    made = await console.post("/admin/accesskeys", name="kept", expire_days="30")
    notice = made.cookies[NOTICE]
    later = clock.wall_clock() + timedelta(seconds=121)
    monkeypatch.setattr(clock, "wall_clock", lambda: later)
    replayed = await console.http.get(
        "/admin/accesskeys", headers={"Cookie": f"{SESSION}={console.token}; {NOTICE}={notice}"}
    )
    assert replayed.status_code == 200
    assert 'id="new-key"' not in replayed.text


async def test_what_the_front_layer_refuses_under_admin_is_a_page_too(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    tenant = await make_customer(runtime)
    console = await Console(client).signed_in(tenant.admin.username)
    huge = await console.http.post("/admin/accesskeys", content=b"x" * 1_100_000)
    assert huge.status_code == 413
    assert huge.headers["content-type"].startswith("text/html")
    assert "frame-ancestors 'none'" in huge.headers["content-security-policy"]
    traced = await console.http.request("TRACE", "/admin/signin")
    assert traced.status_code == 405 and traced.headers["content-type"].startswith("text/html")
    far = await console.get("/admin/audit", to="9999-12-31")
    assert far.status_code == 400 and "To: enter a date" in _alert(far)
    asset = await console.get("/admin/static/favicon.svg")
    assert "frame-ancestors 'none'" in asset.headers["content-security-policy"]
    api = await client.post("/v1.0/accesskeys", content=b"x" * 1_100_000)
    assert api.headers["content-type"] == "application/json"  # the API's stay envelopes
