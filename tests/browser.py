"""A Chromium page that watches what it must not do: reach another origin, log an error,
or break its Content-Security-Policy (the docs pages and the admin console use it)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from playwright.sync_api import Browser, ConsoleMessage, Page, Route

# Reports every CSP violation of the page to the test, with what was refused and why.
REPORT_VIOLATIONS = """
document.addEventListener("securitypolicyviolation", (event) => {
  window.reportViolation(`${event.effectiveDirective} refused ${event.blockedURI || "inline"}`);
});
"""


@dataclass
class Watch:
    """What a page did that it must not: requests elsewhere, errors, CSP violations."""

    origin: str
    # Answers the test itself asks for (a refusal page): Chromium logs each as an error.
    expected_statuses: tuple[int, ...] = ()
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
        if any(
            text.endswith(f"status of {code} ({_REASONS[code]})") for code in self.expected_statuses
        ):
            return
        if message.type == "error" or "Refused to" in text or "Content Security Policy" in text:
            self.problems.append(f"console {message.type}: {text}")


_REASONS = {400: "Bad Request", 401: "Unauthorized", 403: "Forbidden", 404: "Not Found"}


def _origin(url: str) -> str:
    """The origin a URL would reach; a blob: URL is its creator's, a data: URL reaches none."""
    if url.startswith("data:"):
        return "data:"
    parts = urlsplit(url.removeprefix("blob:"))
    return f"{parts.scheme}://{parts.netloc}"


@contextmanager
def watched_page(
    browser: Browser, origin: str, expected_statuses: tuple[int, ...] = (), **context_options: Any
) -> Iterator[Page]:
    """A page of a fresh context that fails the test, when it ends, on any request to another
    origin (blocked, and recorded), any console error, page error or CSP violation."""
    context = browser.new_context(**context_options)
    context.set_default_timeout(15_000)
    watch = Watch(origin, expected_statuses)
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
