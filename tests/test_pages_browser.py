"""The mail-link pages in a real browser (Chromium via Playwright), with no external asset."""

from __future__ import annotations

import re
from collections.abc import Iterator

import httpx
import pytest
from playwright.sync_api import Browser

from tests.server import Server, running_server

LINK = re.compile(r"(http://\S+/auth/(?:email-verify|password-reset)\?token=[0-9a-f]{64})")


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    with running_server(tmp_path_factory.mktemp("pages")) as server:
        yield server


def _link(server: Server, recipient: str, subject: str) -> str:
    messages = server.cli("outbox", "--body")
    body = next(m["body"] for m in messages if m["to"] == recipient and m["subject"] == subject)
    match = LINK.search(body)
    assert match, body
    return match.group(1)


def test_a_new_customer_verifies_and_sets_a_password_in_the_browser(
    server: Server, browser: Browser
) -> None:
    email = "browser@example.com"
    signup = httpx.post(f"{server.base}/auth/signup", json={"email": email, "accepted_tos": True})
    assert signup.status_code == 200
    key = signup.json()["accesskey"]
    page = browser.new_page()
    requested: list[str] = []
    problems: list[str] = []
    page.on("request", lambda request: requested.append(request.url))
    page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda error: problems.append(str(error)))

    page.goto(_link(server, email, "Verify your email address"))
    assert page.title() == "Verify your email"
    page.wait_for_selector("#signup:not([hidden])")  # when, from where, which key
    assert "signed up on" in page.inner_text("#signup-facts")
    keep = page.get_by_label(re.compile("Keep the key"))
    assert key["token_prefix"] in page.inner_text("#keep-label")
    assert not keep.is_checked()  # the owner chooses; by default the key stops
    keep.check()
    page.click("#submit")
    page.wait_for_selector("#status.ok")
    assert "verified" in page.inner_text("#status")
    kept = httpx.get(f"{server.base}/v1.0/customer", params={"accesskey": key["token"]})
    assert kept.status_code == 200  # ticked: the key lives on

    page.goto(_link(server, email, "Set your password"))
    page.fill("#password", "chosen in a browser")
    page.fill("#confirm", "chosen differently")
    page.click("#submit")
    assert "differ" in page.inner_text("#status.error")
    page.fill("#confirm", "chosen in a browser")
    page.click("#submit")
    page.wait_for_selector("#status.ok")
    assert "password is set" in page.inner_text("#status")
    page.close()

    login = httpx.post(
        f"{server.base}/auth/login", json={"username": email, "password": "chosen in a browser"}
    )
    assert login.status_code == 200
    assert problems == []
    assert all(url.startswith(server.base) for url in requested), requested


def test_a_used_link_shows_a_clear_error(server: Server, browser: Browser) -> None:
    email = "twice@example.com"
    httpx.post(f"{server.base}/auth/signup", json={"email": email, "accepted_tos": True})
    link = _link(server, email, "Verify your email address")
    token = link.rsplit("=", 1)[1]
    assert httpx.post(f"{server.base}/auth/email-verify", json={"token": token}).status_code == 200
    page = browser.new_page()
    page.goto(link)
    page.click("#submit")
    page.wait_for_selector("#status.error")
    assert "invalid, expired or already used" in page.inner_text("#status")
    page.close()
