"""/docs (Swagger UI) and /redoc (ReDoc) in a real browser: offline, under their CSP, rendered.

Every request to another origin is blocked and recorded, and any console error, page error or
CSP violation fails the test: the pages must work from vbauth alone, exactly as served.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import Browser, ConsoleMessage, Page, Route

from tests.server import Server, running_server

# Reports every CSP violation of the page to the test, with what was refused and why.
REPORT_VIOLATIONS = """
document.addEventListener("securitypolicyviolation", (event) => {
  window.reportViolation(`${event.effectiveDirective} refused ${event.blockedURI || "inline"}`);
});
"""


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    with running_server(tmp_path_factory.mktemp("docs")) as server:
        yield server


@dataclass
class Watch:
    """What a page did that it must not: requests elsewhere, errors, CSP violations."""

    origin: str
    foreign: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    def request(self, url: str) -> None:
        if _origin(url) != self.origin:
            self.foreign.append(url)

    def route(self, route: Route) -> None:
        if _origin(route.request.url) == self.origin:
            route.continue_()
        else:
            route.abort("blockedbyclient")

    def console(self, message: ConsoleMessage) -> None:
        text = message.text
        if message.type == "error" or "Refused to" in text or "Content Security Policy" in text:
            self.problems.append(f"console {message.type}: {text}")


def _origin(url: str) -> str:
    """The origin a URL would reach; a blob: URL is its creator's, a data: URL reaches none."""
    if url.startswith("data:"):
        return "data:"
    parts = urlsplit(url.removeprefix("blob:"))
    return f"{parts.scheme}://{parts.netloc}"


@contextmanager
def watched_page(browser: Browser, server: Server) -> Iterator[Page]:
    context = browser.new_context()
    context.set_default_timeout(15_000)
    watch = Watch(server.base)
    context.route("**/*", watch.route)
    context.expose_function("reportViolation", lambda text: watch.problems.append(f"CSP {text}"))
    context.add_init_script(REPORT_VIOLATIONS)
    page = context.new_page()
    page.on("request", lambda request: watch.request(request.url))
    page.on("console", watch.console)
    page.on("pageerror", lambda error: watch.problems.append(f"page error: {error}"))
    try:
        yield page
        page.wait_for_load_state("networkidle")  # late errors and requests count too
    except Exception as error:
        error.add_note(f"requests elsewhere: {watch.foreign}\nproblems: {watch.problems}")
        raise
    finally:
        context.close()
    assert watch.foreign == [], watch.foreign
    assert watch.problems == [], watch.problems


def test_swagger_ui_shows_and_calls_the_api(server: Server, browser: Browser) -> None:
    with watched_page(browser, server) as page:
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
    with watched_page(browser, server) as page:
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
