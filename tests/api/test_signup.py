"""Signup, email verification and password recovery, with mail through a real SMTP server."""

from __future__ import annotations

import asyncio
import uuid
from datetime import timedelta
from email.message import EmailMessage

import anyio
import httpx
import pytest
from sqlalchemy import delete, select

from tests.factories import PASSWORD, assert_error, bearer, login, make_customer, unique_email
from tests.mailbox import LINK, Mailbox, free_port
from vbauth import clock
from vbauth.api import account
from vbauth.mailer import Mailer, SmtpServer
from vbauth.models import Customer, OneTimeToken, OutboxMessage
from vbauth.runtime import Runtime

pytestmark = pytest.mark.anyio

VERIFY_SUBJECT = "Verify your email address"
SET_PASSWORD = "Set your password"
RESET = "Reset your password"


async def _signup(client: httpx.AsyncClient, email: str, **extra: object) -> httpx.Response:
    return await client.post("/auth/signup", json={"email": email, "accepted_tos": True, **extra})


async def test_signup_gives_an_unverified_customer_and_a_key_that_works_at_once(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    email = unique_email("signup")
    response = await _signup(client, email, name="Acme", phone_number="+14155551234")
    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"customer", "accesskey"}
    customer, key = body["customer"], body["accesskey"]
    assert (customer["email"], customer["name"], customer["status"]) == (email, "Acme", "initial")
    assert customer["email_verified"] is False
    assert "webhook_secret" not in customer
    assert (key["name"], key["detail"]) == ("default", "Auto-provisioned API key")
    assert key["token"].startswith("vb_") and len(key["token"]) == 35
    assert key["token_prefix"] == key["token"][:11]
    lifetime = clock.parse_timestamp(key["tm_expire"]) - clock.parse_timestamp(key["tm_create"])
    assert lifetime == timedelta(days=365)
    own = await client.get("/v1.0/customer", params={"accesskey": key["token"]})
    assert own.status_code == 200
    async with runtime.transaction(write=False) as session:
        stored = await session.get(Customer, uuid.UUID(customer["id"]))
    assert stored is not None
    assert stored.terms_agreed_ip == "203.0.113.7"
    assert clock.parse_timestamp(stored.terms_agreed_version) <= clock.now()
    agents = await client.get("/v1.0/agents", params={"accesskey": key["token"]})
    [admin] = agents.json()["result"]
    assert (admin["username"], admin["permission"]) == (email, 32)


async def test_the_admin_of_a_signup_has_no_usable_password(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    email = unique_email("signup")
    await _signup(client, email)
    response = await client.post("/auth/login", json={"username": email, "password": "guess it"})
    assert_error(response, 401, "INVALID_CREDENTIALS")


async def test_a_taken_email_answers_empty_and_warns_its_owner(
    client: httpx.AsyncClient, runtime: Runtime, mailbox: Mailbox
) -> None:
    tenant = await make_customer(runtime)
    for email in (tenant.customer.email, tenant.customer.email.upper()):
        response = await _signup(client, email)
        assert response.status_code == 200
        assert response.json() == {}
    await runtime.mailer.deliver_pending()
    warnings = mailbox.to(tenant.customer.email)
    assert [m["Subject"] for m in warnings] == ["Someone tried to sign up with your address"] * 2


async def test_an_email_used_as_an_agent_username_is_taken_too(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    tenant = await make_customer(runtime)
    headers = bearer(await login(client, tenant.admin.username))
    email = unique_email("agent")
    await client.post(
        "/v1.0/agents", json={"username": email, "password": PASSWORD}, headers=headers
    )
    response = await _signup(client, email)
    assert response.json() == {}


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        ({"accepted_tos": True}, "INVALID_ARGUMENT"),
        ({"email": "", "accepted_tos": True}, "INVALID_ARGUMENT"),
        ({"email": "a@example.com"}, "INVALID_ARGUMENT"),
        ({"email": "a@example.com", "accepted_tos": False}, "INVALID_ARGUMENT"),
        ({"email": "a@example.com", "accepted_tos": None}, "INVALID_JSON_BODY"),
        ({"email": "a@example.com", "accepted_tos": "true"}, "INVALID_JSON_BODY"),
        ({"email": "a@example.com", "accepted_tos": 1}, "INVALID_JSON_BODY"),
        ({"email": "not-an-email", "accepted_tos": True}, "INVALID_ARGUMENT"),
        ({"email": "a@example.com.", "accepted_tos": True}, "INVALID_ARGUMENT"),
        ({"email": ["a@example.com"], "accepted_tos": True}, "INVALID_JSON_BODY"),
        (
            {"email": "a@example.com", "accepted_tos": True, "webhook_method": "PATCH"},
            "INVALID_ARGUMENT",
        ),
    ],
)
async def test_bad_signups_are_400(
    client: httpx.AsyncClient, body: dict[str, object], reason: str
) -> None:
    assert_error(await client.post("/auth/signup", json=body), 400, reason)


async def test_bad_json_signup_is_400(client: httpx.AsyncClient) -> None:
    assert_error(await client.post("/auth/signup", content=b"{email"), 400, "INVALID_JSON_BODY")


async def test_verification_activates_the_customer_and_mails_a_set_password_link(
    client: httpx.AsyncClient, runtime: Runtime, mailbox: Mailbox
) -> None:
    email = unique_email("verify")
    key = (await _signup(client, email)).json()["accesskey"]["token"]
    await runtime.mailer.deliver_pending()
    token = mailbox.link_token(email, VERIFY_SUBJECT)

    page = await client.get("/auth/email-verify", params={"token": token})
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert "script-src 'nonce-" in page.headers["content-security-policy"]

    response = await client.post(
        "/auth/email-verify", json={"token": token, "keep_signup_key": True}
    )
    assert response.status_code == 200
    customer = response.json()["customer"]
    assert (customer["status"], customer["email_verified"]) == ("active", True)
    replay = await client.post("/auth/email-verify", json={"token": token})
    assert_error(replay, 400, "INVALID_TOKEN")

    await runtime.mailer.deliver_pending()
    reset = mailbox.link_token(email, SET_PASSWORD)
    response = await client.post(
        "/auth/password-reset", json={"token": reset, "password": "my first password"}
    )
    assert response.status_code == 200
    assert response.json() == {}
    await login(client, email, "my first password")
    assert (await client.get("/v1.0/customer", params={"accesskey": key})).status_code == 200


@pytest.mark.parametrize(
    "token", ["", "abc", "A" * 64, "g" * 64, "a" * 63, "a" * 65, "<script>" + "a" * 56]
)
async def test_link_pages_refuse_malformed_tokens(client: httpx.AsyncClient, token: str) -> None:
    for path in ("/auth/email-verify", "/auth/password-reset"):
        response = await client.get(path, params={"token": token})
        assert response.status_code == 400
        assert response.json()["error"]["reason"] in ("INVALID_TOKEN", "INVALID_REQUEST_PARAMETER")


async def test_link_pages_need_the_token_parameter(client: httpx.AsyncClient) -> None:
    response = await client.get("/auth/password-reset")
    assert_error(response, 400, "MISSING_REQUEST_PARAMETER")


@pytest.mark.parametrize("token", ["", "nonsense", "0" * 64, "x" * 5000])
async def test_unknown_verification_tokens_are_400(client: httpx.AsyncClient, token: str) -> None:
    response = await client.post("/auth/email-verify", json={"token": token})
    assert response.status_code == 400


async def test_forgot_password_always_answers_empty_and_mails_only_real_users(
    client: httpx.AsyncClient, runtime: Runtime, mailbox: Mailbox
) -> None:
    tenant = await make_customer(runtime)
    for username in (tenant.admin.username, "nobody@example.com", "not even an email"):
        response = await client.post("/auth/password-forgot", json={"username": username})
        assert response.status_code == 200
        assert response.json() == {}
    await runtime.mailer.deliver_pending()
    assert [m["To"] for m in mailbox.messages] == [tenant.admin.username]
    assert_error(
        await client.post("/auth/password-forgot", json={"username": ""}), 400, "INVALID_ARGUMENT"
    )
    assert_error(await client.post("/auth/password-forgot", content=b"{"), 400, "INVALID_JSON_BODY")


async def test_a_reset_sets_the_password_once_and_ends_every_session(
    client: httpx.AsyncClient, runtime: Runtime, mailbox: Mailbox
) -> None:
    tenant = await make_customer(runtime)
    old_token = await login(client, tenant.admin.username)
    await client.post("/auth/password-forgot", json={"username": tenant.admin.username})
    await runtime.mailer.deliver_pending()
    reset = mailbox.link_token(tenant.admin.username, RESET)

    page = await client.get("/auth/password-reset", params={"token": reset})
    assert page.status_code == 200 and "<form" in page.text

    short = await client.post("/auth/password-reset", json={"token": reset, "password": "short"})
    assert_error(short, 400, "INVALID_ARGUMENT")  # and the token is still good:
    response = await client.post(
        "/auth/password-reset", json={"token": reset, "password": "brand new password"}
    )
    assert response.status_code == 200
    assert_error(
        await client.get("/v1.0/me", headers=bearer(old_token)), 401, "INVALID_CREDENTIALS"
    )
    await login(client, tenant.admin.username, "brand new password")
    replay = await client.post(
        "/auth/password-reset", json={"token": reset, "password": "another password"}
    )
    assert_error(replay, 400, "INVALID_TOKEN")


async def test_a_reset_link_dies_after_an_hour(
    client: httpx.AsyncClient, runtime: Runtime, mailbox: Mailbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    tenant = await make_customer(runtime)
    await client.post("/auth/password-forgot", json={"username": tenant.admin.username})
    await runtime.mailer.deliver_pending()
    reset = mailbox.link_token(tenant.admin.username, RESET)
    later = clock.wall_clock() + timedelta(hours=1, seconds=1)
    monkeypatch.setattr(clock, "wall_clock", lambda: later)
    response = await client.post(
        "/auth/password-reset", json={"token": reset, "password": "too late now"}
    )
    assert_error(response, 400, "INVALID_TOKEN")


async def test_a_verification_token_is_no_reset_token(
    client: httpx.AsyncClient, runtime: Runtime, mailbox: Mailbox
) -> None:
    email = unique_email("mixed")
    await _signup(client, email)
    await runtime.mailer.deliver_pending()
    token = mailbox.link_token(email, VERIFY_SUBJECT)
    response = await client.post(
        "/auth/password-reset", json={"token": token, "password": "sneaky password"}
    )
    assert_error(response, 400, "INVALID_TOKEN")


async def test_an_unverified_signup_expires_after_an_hour(
    client: httpx.AsyncClient, runtime: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    email = unique_email("late")
    key = (await _signup(client, email)).json()["accesskey"]["token"]
    assert (await client.get("/v1.0/customer", params={"accesskey": key})).status_code == 200
    assert await runtime.expire_unverified() == 0
    later = clock.wall_clock() + timedelta(hours=1, seconds=1)
    monkeypatch.setattr(clock, "wall_clock", lambda: later)
    # The credential stops at the deadline even before the sweep runs...
    assert_error(
        await client.get("/v1.0/customer", params={"accesskey": key}), 401, "INVALID_CREDENTIALS"
    )
    # ...and the sweep marks the customer expired, freeing the address for a new signup.
    assert await runtime.expire_unverified() == 1
    again = await _signup(client, email)
    assert again.json()["customer"]["status"] == "initial"


async def test_a_verified_signup_does_not_expire(
    client: httpx.AsyncClient, runtime: Runtime, mailbox: Mailbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    email = unique_email("ontime")
    key = (await _signup(client, email)).json()["accesskey"]["token"]
    await runtime.mailer.deliver_pending()
    await client.post(
        "/auth/email-verify",
        json={"token": mailbox.link_token(email, VERIFY_SUBJECT), "keep_signup_key": True},
    )
    later = clock.wall_clock() + timedelta(hours=2)
    monkeypatch.setattr(clock, "wall_clock", lambda: later)
    assert await runtime.expire_unverified() == 0
    assert (await client.get("/v1.0/customer", params={"accesskey": key})).status_code == 200


async def test_without_smtp_mail_is_kept_and_logged_not_lost(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    email = unique_email("nosmtp")
    await _signup(client, email)
    await runtime.mailer.deliver_pending()  # the session runtime has no SMTP server
    async with runtime.transaction(write=False) as session:
        [message] = (
            await session.scalars(select(OutboxMessage).where(OutboxMessage.recipient == email))
        ).all()
    assert message.status == "logged"
    assert "/auth/email-verify?token=" in message.body


async def test_an_unreachable_smtp_server_leaves_mail_pending_with_the_error(
    client: httpx.AsyncClient, runtime: Runtime, mailbox: Mailbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    dead = Mailer(
        sessions=runtime.write_sessions,
        sender="x <x@example.com>",
        server=SmtpServer.from_url(f"smtp://127.0.0.1:{free_port()}"),
    )
    monkeypatch.setattr(runtime, "mailer", dead)
    email = unique_email("down")
    await _signup(client, email)
    assert await dead.deliver_pending() == 1
    assert await dead.deliver_pending() == 0  # it waits before trying again
    async with runtime.transaction(write=False) as session:
        [message] = (
            await session.scalars(select(OutboxMessage).where(OutboxMessage.recipient == email))
        ).all()
    assert (message.status, message.attempts) == ("pending", 1)
    assert message.last_error


async def test_an_unverified_signup_cannot_change_its_email(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    """Otherwise: sign up as someone, switch to your own address, verify it, own their name."""
    key = (await _signup(client, unique_email("victim"))).json()["accesskey"]["token"]
    response = await client.put(
        "/v1.0/customer", params={"accesskey": key}, json={"email": unique_email("attacker")}
    )
    assert_error(response, 403, "EMAIL_NOT_VERIFIED")


async def test_an_unverified_signup_leaves_no_foothold_for_the_addresses_owner(
    client: httpx.AsyncClient, runtime: Runtime, mailbox: Mailbox
) -> None:
    """Pre-account hijacking: sign up with the victim's address, add an admin, a ten-year key
    and a webhook, and keep them after the victim verifies. None of it may happen first."""
    victim = unique_email("victim")
    key = (await _signup(client, victim)).json()["accesskey"]["token"]
    as_signup = {"accesskey": key}
    attempts = [
        ("POST", "/v1.0/accesskeys", {"name": "mine", "expire": 315_360_000}),
        ("POST", "/v1.0/agents", {"username": unique_email("mole"), "password": "long enough 1"}),
        ("PUT", "/v1.0/customer", {"webhook_uri": "https://attacker.example/hook"}),
        ("PUT", "/v1.0/customer", {"webhook_method": "POST"}),
    ]
    for method, path, body in attempts:
        response = await client.request(method, path, params=as_signup, json=body)
        assert_error(response, 403, "EMAIL_NOT_VERIFIED")
    customer = (await client.get("/v1.0/customer", params=as_signup)).json()
    agents = await client.get("/v1.0/agents", params=as_signup)  # looking around is allowed
    assert agents.status_code == 200
    [admin] = agents.json()["result"]
    response = await client.put(
        f"/v1.0/agents/{admin['id']}/password",
        params=as_signup,
        json={"password": "the attacker's own"},
    )
    assert_error(response, 403, "EMAIL_NOT_VERIFIED")
    assert customer["webhook_uri"] == ""
    # Once the owner verifies, the same key may.
    await runtime.mailer.deliver_pending()
    token = LINK.search(mailbox.messages[-1].get_content()).group(1)  # type: ignore[union-attr]
    verified = await client.post(
        "/auth/email-verify", json={"token": token, "keep_signup_key": True}
    )
    assert verified.status_code == 200
    created = await client.post("/v1.0/accesskeys", params=as_signup, json={"name": "now"})
    assert created.status_code == 200


async def test_a_new_email_waits_for_its_owner_and_squats_nothing(
    client: httpx.AsyncClient, runtime: Runtime, mailbox: Mailbox
) -> None:
    tenant = await make_customer(runtime)
    headers = bearer(await login(client, tenant.admin.username))
    new = unique_email("moved")
    changed = (await client.put("/v1.0/customer", headers=headers, json={"email": new})).json()
    assert (changed["email"], changed["pending_email"]) == (tenant.customer.email, new)
    assert changed["email_verified"] is tenant.customer.email_verified  # about the current one
    await runtime.mailer.deliver_pending()
    renamed = await client.put("/v1.0/customer", headers=headers, json={"name": "x"})
    assert renamed.json()["pending_email"] == new  # other changes leave it waiting
    again = await client.put("/v1.0/customer", headers=headers, json={"email": new.upper()})
    assert again.status_code == 200
    await runtime.mailer.deliver_pending()
    assert len(mailbox.to(new)) == 2  # asking again sends a fresh link
    link = mailbox.link_token(new, VERIFY_SUBJECT)
    verified = (await client.post("/auth/email-verify", json={"token": link})).json()["customer"]
    assert (verified["email"], verified["email_verified"]) == (new, True)
    assert_error(
        await client.post("/auth/email-verify", json={"token": link}), 400, "INVALID_TOKEN"
    )


async def test_a_pending_address_does_not_block_its_owners_signup(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    tenant = await make_customer(runtime)
    headers = bearer(await login(client, tenant.admin.username))
    someone = unique_email("someone")
    await client.put("/v1.0/customer", headers=headers, json={"email": someone})
    assert "customer" in (await _signup(client, someone)).json()


async def test_a_new_password_ends_every_other_reset_link(
    client: httpx.AsyncClient, runtime: Runtime, mailbox: Mailbox
) -> None:
    tenant = await make_customer(runtime)
    for _ in range(2):
        await client.post("/auth/password-forgot", json={"username": tenant.admin.username})
    await runtime.mailer.deliver_pending()
    first, second = (_link_of(m) for m in mailbox.to(tenant.admin.username))
    response = await client.post(
        "/auth/password-reset", json={"token": second, "password": "the second link"}
    )
    assert response.status_code == 200
    response = await client.post(
        "/auth/password-reset", json={"token": first, "password": "the first link"}
    )
    assert_error(response, 400, "INVALID_TOKEN")


def _link_of(message: EmailMessage) -> str:
    match = LINK.search(message.get_content())
    assert match
    return match.group(1)


async def test_asking_for_the_current_email_cancels_a_pending_change(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    tenant = await make_customer(runtime)
    headers = bearer(await login(client, tenant.admin.username))
    await client.put("/v1.0/customer", headers=headers, json={"email": unique_email("oops")})
    back = await client.put(
        "/v1.0/customer", headers=headers, json={"email": tenant.customer.email}
    )
    assert back.json()["pending_email"] == ""


async def test_mail_waiting_out_its_back_off_never_holds_up_new_mail(
    runtime: Runtime, mailbox: Mailbox
) -> None:
    waiting = clock.now()
    async with runtime.transaction() as session:
        for number in range(60):  # more than one delivery batch
            session.add(
                OutboxMessage(
                    purpose="test",
                    recipient=f"r{number}@example.com",
                    subject="old",
                    body="b",
                    status="pending",
                    attempts=1,
                    tm_claim=waiting,
                )
            )
    async with runtime.transaction() as session:
        session.add(
            OutboxMessage(purpose="test", recipient="fresh@example.com", subject="new", body="b")
        )
    assert await runtime.mailer.deliver_pending() == 1
    assert [m["Subject"] for m in mailbox.messages] == ["new"]
    async with runtime.transaction() as session:
        await session.execute(delete(OutboxMessage))


async def test_two_reset_links_used_at_once_set_one_password(
    client: httpx.AsyncClient, runtime: Runtime, mailbox: Mailbox
) -> None:
    tenant = await make_customer(runtime)
    for _ in range(2):
        await client.post("/auth/password-forgot", json={"username": tenant.admin.username})
    await runtime.mailer.deliver_pending()
    links = [_link_of(m) for m in mailbox.to(tenant.admin.username)]
    statuses: list[int] = []

    async def reset(link: str, password: str) -> None:
        response = await client.post(
            "/auth/password-reset", json={"token": link, "password": password}
        )
        statuses.append(response.status_code)

    async with anyio.create_task_group() as group:
        group.start_soon(reset, links[0], "first password")
        group.start_soon(reset, links[1], "second password")
    assert sorted(statuses) == [200, 400]


async def test_forgot_password_takes_the_same_floor_of_time_known_or_not(
    client: httpx.AsyncClient, runtime: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The answer is padded to a floor, so a known username's extra work (token, mail, commit)
    # does not show. Measured as the pause asked for, not as wall time (no timed assertions).
    pauses: list[float] = []
    real_sleep = asyncio.sleep

    async def noting_sleep(seconds: float) -> None:
        pauses.append(seconds)
        await real_sleep(0)

    monkeypatch.setattr(account.asyncio, "sleep", noting_sleep)
    tenant = await make_customer(runtime)
    for username in (tenant.admin.username, "nobody@example.com"):
        assert (
            await client.post("/auth/password-forgot", json={"username": username})
        ).status_code == 200
    assert len(pauses) == 2
    assert all(0 < pause <= account.FORGOT_FLOOR_SECONDS for pause in pauses)


async def test_the_signups_key_stops_at_verification_unless_its_owner_keeps_it(
    client: httpx.AsyncClient, runtime: Runtime, mailbox: Mailbox
) -> None:
    for keep in (False, True):
        signup = (await _signup(client, unique_email("owner"))).json()
        key = signup["accesskey"]
        await runtime.mailer.deliver_pending()
        token = LINK.search(mailbox.messages[-1].get_content()).group(1)  # type: ignore[union-attr]
        details = await client.get("/auth/email-verify/details", params={"token": token})
        assert details.status_code == 200
        facts = details.json()
        assert facts["keys"] == [key["token_prefix"]]
        assert facts["from_ip"] == "203.0.113.7"  # the test client's address at signup
        assert facts["signed_up"] == signup["customer"]["tm_create"]
        verified = await client.post(
            "/auth/email-verify", json={"token": token, "keep_signup_key": keep}
        )
        assert verified.status_code == 200
        after = await client.get("/v1.0/customer", params={"accesskey": key["token"]})
        assert after.status_code == (200 if keep else 401)
        used = await client.get("/auth/email-verify/details", params={"token": token})
        assert_error(used, 400, "INVALID_TOKEN")


async def test_the_mail_bound_and_one_live_link_hold_for_requests_sent_at_once(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    # An attack review sent 20 at once on PostgreSQL: 9 mails went out and 5 links lived, as
    # each request counted before any other had written.
    tenant = await make_customer(runtime)
    body = {"username": tenant.admin.username}
    answers = await asyncio.gather(
        *(client.post("/auth/password-forgot", json=body) for _ in range(20))
    )
    assert {answer.status_code for answer in answers} == {200}
    async with runtime.transaction(write=False) as session:
        mails = (
            await session.scalars(
                select(OutboxMessage).where(OutboxMessage.recipient == tenant.admin.username)
            )
        ).all()
        live = (
            await session.scalars(
                select(OneTimeToken).where(
                    OneTimeToken.agent_id == tenant.admin.id, OneTimeToken.tm_used.is_(None)
                )
            )
        ).all()
    assert len([m for m in mails if m.purpose == "password_reset"]) == 3
    assert len(live) == 1
