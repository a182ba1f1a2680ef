"""The admin console in Chromium, used as its people use it, found by what a screen reader reads.

Every page runs under the watch of ``tests/browser.py``: a request to another origin, a console
error, a page error or a CSP violation fails the test. Screenshots land in ``build/screenshots``
(``VBAUTH_SCREENSHOTS`` elsewhere); ``make screenshots`` copies the README's.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Browser, Locator, Page, expect

from tests.browser import watched_page
from tests.server import Server, running_server

SCREENSHOTS = Path(
    os.environ.get("VBAUTH_SCREENSHOTS", Path(__file__).parent.parent / "build" / "screenshots")
)
ADMIN = "ada@example.com"
MANAGER = "max@example.com"
AGENT = "agnes@example.com"
PASSWORD = "correct horse battery"
WIDGET = "https://widgets.example.com/talk?direct={hash}"
PHONE = {"width": 390, "height": 844}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    # The default Secure cookie: Chromium keeps it on http://127.0.0.1, as after `make run`.
    with running_server(
        tmp_path_factory.mktemp("console"),
        VBAUTH_COOKIE_SECURE="true",
        VBAUTH_DIRECT_LINK_URL=WIDGET,
    ) as server:
        server.cli("customer", "create", "--email", ADMIN, "--admin-password", PASSWORD)
        token = httpx.post(
            f"{server.base}/auth/login", json={"username": ADMIN, "password": PASSWORD}
        ).json()["token"]
        for username, permission in ((MANAGER, 64), (AGENT, 16)):
            made = httpx.post(
                f"{server.base}/v1.0/agents",
                params={"token": token},
                json={"username": username, "password": PASSWORD, "permission": permission},
            )
            assert made.status_code == 200, made.text
        yield server


def screenshot(page: Page, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=SCREENSHOTS / f"{name}.png", full_page=True)


def sign_in(page: Page, server: Server, username: str) -> None:
    page.goto(f"{server.base}/admin")
    expect(page).to_have_title(re.compile("^Sign in"))
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("button", name="Sign out")).to_be_visible()


def test_an_admin_creates_a_key_sees_it_once_uses_it_and_deletes_it(
    server: Server, browser: Browser
) -> None:
    with watched_page(
        browser, server.base, permissions=["clipboard-read", "clipboard-write"]
    ) as page:
        sign_in(page, server, ADMIN)
        page.get_by_role("navigation", name="Console").get_by_role(
            "link", name="Access keys"
        ).click()
        page.get_by_label("Name").fill("billing export")
        page.get_by_label("Detail").fill("nightly job")
        page.get_by_role("button", name="Create").click()

        shown = page.locator("#new-key")
        expect(shown).to_have_text(re.compile(r"^vb_\w+$"))
        key = shown.inner_text()
        expect(page.get_by_text("it will not be shown again")).to_be_visible()
        page.get_by_role("button", name="Copy the access key").click()
        assert page.evaluate("navigator.clipboard.readText()") == key
        screenshot(page, "console-access-keys")

        api = httpx.get(f"{server.base}/v1.0/accesskeys", params={"accesskey": key})
        assert api.status_code == 200  # the key works at once
        [listed] = api.json()["result"]
        assert listed["name"] == "billing export"

        page.reload()  # shown once: now only its prefix
        row = page.get_by_role("row", name=re.compile("billing export"))
        expect(row).to_contain_text(listed["token_prefix"] + "…")
        assert key not in page.content()
        expect(page.locator("#new-key")).to_have_count(0)

        row.get_by_role("button", name="Delete").click()
        question = page.get_by_role("heading", name=re.compile("Delete the access key"))
        expect(question).to_be_visible()
        page.get_by_role("button", name="Delete").click()
        expect(page.get_by_role("status")).to_contain_text("deleted")
        expect(page.get_by_role("row", name=re.compile("billing export"))).to_have_count(0)

        refused = httpx.get(f"{server.base}/v1.0/accesskeys", params={"accesskey": key})
        assert refused.status_code == 401


def test_a_manager_sees_no_access_key_pages(server: Server, browser: Browser) -> None:
    with watched_page(browser, server.base, expected_statuses=(403,)) as page:
        sign_in(page, server, MANAGER)
        nav = page.get_by_role("navigation", name="Console")
        for name in ("Agents", "Directs", "Sessions"):
            expect(nav.get_by_role("link", name=name)).to_be_visible()
        expect(nav.get_by_role("link", name="Access keys")).to_have_count(0)
        expect(nav.get_by_role("link", name="Audit log")).to_have_count(0)

        response = page.goto(f"{server.base}/admin/accesskeys")
        assert response is not None and response.status == 403
        expect(page.get_by_role("alert")).to_have_text(re.compile("permission"))
        assert "{" not in page.locator("main").inner_text()  # a sentence, never JSON


def test_an_agent_sees_only_its_own_account(server: Server, browser: Browser) -> None:
    with watched_page(browser, server.base) as page:
        sign_in(page, server, AGENT)
        links = page.get_by_role("navigation", name="Console").get_by_role("link")
        expect(links).to_have_text(["Sessions", "Account"])
        page.get_by_role("link", name="Account").click()
        expect(page.get_by_role("heading", name="Your account")).to_be_visible()
        expect(page.get_by_text(AGENT).first).to_be_visible()


def test_signing_out_ends_the_login_session(server: Server, browser: Browser) -> None:
    with watched_page(browser, server.base) as page:
        sign_in(page, server, AGENT)
        cookies = {c["name"]: c["value"] for c in page.context.cookies()}
        token = cookies["__Host-vbauth_console"]  # Secure, so prefixed: no sibling host sets it
        assert httpx.get(f"{server.base}/v1.0/me", params={"token": token}).status_code == 200
        page.get_by_role("button", name="Sign out").click()
        expect(page.get_by_role("status")).to_have_text("You are signed out.")
        expect(page.get_by_role("button", name="Sign in")).to_be_visible()
        assert httpx.get(f"{server.base}/v1.0/me", params={"token": token}).status_code == 401


def test_a_session_ended_elsewhere_ends_the_console(server: Server, browser: Browser) -> None:
    with watched_page(browser, server.base) as page:
        sign_in(page, server, AGENT)
        login = httpx.post(
            f"{server.base}/auth/login", json={"username": AGENT, "password": PASSWORD}
        )
        token = login.json()["token"]
        others = httpx.delete(f"{server.base}/v1.0/me/sessions", params={"token": token})
        assert others.json()["ended"] >= 1
        page.get_by_role("link", name="Sessions").click()
        expect(page.get_by_role("status")).to_have_text("Your session has ended. Sign in again.")
        expect(page.get_by_label("Password")).to_be_visible()


def test_directs_are_made_copied_and_regenerated(server: Server, browser: Browser) -> None:
    resource = "3f1c4a8e-0d6b-4c1e-9a57-2b8f3d9e6c10"
    with watched_page(
        browser, server.base, permissions=["clipboard-read", "clipboard-write"]
    ) as page:
        sign_in(page, server, MANAGER)
        page.get_by_role("link", name="Directs").click()
        page.get_by_label("Resource type").select_option("ai")
        page.get_by_label("Resource ID").fill(resource)
        page.get_by_role("button", name="Create").click()
        expect(page.get_by_role("status")).to_have_text("Direct hash created.")

        row = page.get_by_role("row", name=re.compile(resource))
        first = row.locator("code[id^=hash-]").inner_text()
        assert first.startswith("direct.")
        row.get_by_role("button", name=re.compile("^Copy the widget link")).click()
        assert page.evaluate("navigator.clipboard.readText()") == WIDGET.replace("{hash}", first)
        booted = httpx.post(f"{server.base}/auth/boot", json={"direct_hash": first})
        assert booted.status_code == 200

        row.get_by_role("button", name="Regenerate").click()
        page.get_by_role("button", name="Regenerate").click()
        expect(page.get_by_role("status")).to_have_text("Direct hash regenerated.")
        second = page.get_by_role("row", name=re.compile(resource)).locator("code[id^=hash-]")
        expect(second).not_to_have_text(first)
        again = httpx.post(f"{server.base}/auth/boot", json={"direct_hash": first})
        assert again.status_code in (400, 401, 404)
        screenshot(page, "console-directs")


def test_an_admin_manages_an_agent_within_its_rights(server: Server, browser: Browser) -> None:
    with watched_page(browser, server.base) as page:
        sign_in(page, server, MANAGER)
        page.get_by_role("link", name="Agents").click()
        choices = page.get_by_role("group", name="Permissions").get_by_role("checkbox")
        expect(choices).to_have_count(2)  # a manager grants agent and manager, not admin
        page.get_by_label("Username").fill("newcomer@example.com")
        page.get_by_label("Password").fill("a first password")
        page.get_by_label("Name", exact=True).fill("New Comer")
        page.get_by_role("button", name="Create").click()
        expect(page.get_by_role("heading", name="newcomer@example.com")).to_be_visible()

        page.get_by_label("New password").fill("a second password")
        page.get_by_role("button", name="Set password").click()
        expect(page.get_by_role("status")).to_contain_text("Password of newcomer@example.com")
        login = httpx.post(
            f"{server.base}/auth/login",
            json={"username": "newcomer@example.com", "password": "a second password"},
        )
        assert login.status_code == 200
        screenshot(page, "console-agent")


def test_the_console_works_with_the_keyboard_alone(server: Server, browser: Browser) -> None:
    with watched_page(browser, server.base) as page:
        page.goto(f"{server.base}/admin")
        expect(page.get_by_label("Username")).to_be_focused()  # ready to type
        page.keyboard.type(ADMIN)
        page.keyboard.press("Tab")
        page.keyboard.type(PASSWORD)
        page.keyboard.press("Enter")
        expect(page.get_by_role("heading", name="Access keys", exact=True)).to_be_visible()
        page.keyboard.press("Tab")  # the skip link comes first, and leads past the navigation
        expect(page.get_by_role("link", name="Skip to content")).to_be_focused()
        page.keyboard.press("Enter")
        expect(page.get_by_role("main")).to_be_focused()
        _tab_to(page, page.get_by_label("Name"))
        page.keyboard.type("typed key")
        _tab_to(page, page.get_by_role("button", name="Create"))
        page.keyboard.press("Enter")
        expect(page.get_by_role("status")).to_contain_text("typed key")
        row = page.get_by_role("row", name=re.compile("typed key"))
        _tab_to(page, row.get_by_role("button", name="Delete"))
        page.keyboard.press("Enter")
        _tab_to(page, page.get_by_role("button", name="Delete"))
        page.keyboard.press("Enter")
        expect(page.get_by_role("status")).to_contain_text("deleted")


def _tab_to(page: Page, target: Locator, most: int = 40) -> None:
    """Press Tab until ``target`` has the focus, as a person without a mouse would."""
    for _ in range(most):
        page.keyboard.press("Tab")
        if target.evaluate("e => e === document.activeElement"):
            return
    raise AssertionError(f"{most} presses of Tab never reached {target}")


def test_every_page_fits_a_phone(server: Server, browser: Browser) -> None:
    with watched_page(browser, server.base, viewport=PHONE, is_mobile=True) as page:
        sign_in(page, server, ADMIN)
        for name in ("Access keys", "Agents", "Directs", "Sessions", "Audit log", "Account"):
            page.get_by_role("link", name=name).click()
            expect(page).to_have_title(f"{name} · vbauth console")  # the new page, not the last
            page.wait_for_load_state("load")  # its stylesheet applied
            overflow = page.evaluate(
                "document.documentElement.scrollWidth - document.documentElement.clientWidth"
            )
            assert overflow <= 0, f"{name} is {overflow}px wider than a phone"
        page.get_by_role("link", name="Audit log").click()
        page.get_by_label("Type").select_option("login_succeeded")
        page.get_by_role("button", name="Filter").click()
        expect(page.get_by_role("cell", name="login_succeeded").first).to_be_visible()
        expect(page.get_by_role("cell", name="logout")).to_have_count(0)
        screenshot(page, "console-audit-phone")
