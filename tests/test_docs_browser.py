"""/docs (Swagger UI) and /redoc (ReDoc) in a real browser: offline, under their CSP, rendered.

Every request to another origin is blocked and recorded, and any console error, page error or
CSP violation fails the test: the pages must work from vbauth alone, exactly as served.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser

from tests.browser import watched_page
from tests.server import Server, running_server


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    with running_server(tmp_path_factory.mktemp("docs")) as server:
        yield server


def test_swagger_ui_shows_and_calls_the_api(server: Server, browser: Browser) -> None:
    with watched_page(browser, server.base) as page:
        page.goto(f"{server.base}/docs")
        login = page.locator('.opblock-summary-path[data-path="/auth/login"]')
        login.wait_for()
        assert login.is_visible()
        assert page.locator('.opblock-tag[data-tag="agents"]').is_visible()
        # Its stylesheet applied (an operation's block is tinted), and "Try it out" reaches vbauth.
        post = page.locator(".opblock", has=login)
        assert post.evaluate("e => getComputedStyle(e).backgroundColor") != "rgba(0, 0, 0, 0)"
        page.locator('.opblock-summary-path[data-path="/ping"]').click()
        page.get_by_role("button", name="Try it out").click()
        page.get_by_role("button", name="Execute").click()
        answer = page.locator(".live-responses-table .response-col_description pre")
        answer.first.wait_for()
        assert answer.first.inner_text() == "pong"


def test_redoc_shows_and_searches_the_api(server: Server, browser: Browser) -> None:
    with watched_page(browser, server.base) as page:
        page.goto(f"{server.base}/redoc")
        path = page.get_by_text("/auth/login", exact=True)
        operation = page.locator('[id^="tag/auth/operation/"]', has=path)
        heading = operation.locator("h2")
        heading.wait_for()
        assert "login" in heading.inner_text().lower()
        assert path.is_visible()
        # Its styles applied: styled-components' (by the nonce), perfect-scrollbar's (by hash).
        assert heading.evaluate("e => getComputedStyle(e).fontWeight") == "400"
        sidebar = page.locator(".menu-content .ps").first
        assert sidebar.evaluate("e => getComputedStyle(e).overflow") == "hidden"
        # The search index lives in ReDoc's blob: worker.
        page.get_by_placeholder("Search...").fill("password")
        results = page.locator('[data-role="search:results"]')
        results.wait_for()
        assert "password" in results.inner_text().lower()
        # The credit stays, its logo (Redocly's CDN) does not.
        assert page.get_by_text("API docs by Redocly").is_visible()
        assert page.locator('img[alt="redocly logo"]').count() == 0
