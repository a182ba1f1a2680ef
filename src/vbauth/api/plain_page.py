"""The small page the admin console's addresses get when something below the console refuses
or fails (the front layer's 413 and 431, a database outage): people read those, not JSON."""

from __future__ import annotations

import html

from starlette.responses import HTMLResponse

CONSOLE_PREFIX = "/admin"
POLICY = "default-src 'none'; frame-ancestors 'none'"
PAGE = (
    '<!doctype html><html lang="en"><meta charset="utf-8">'
    '<meta name="viewport" content="width=device-width, initial-scale=1">'
    "<title>Not done · vbauth console</title><h1>That could not be done</h1>"
    '<p role="alert">{message}</p><p><a href="/admin">Back to the console</a></p></html>'
)


def refusal_body(message: str) -> bytes:
    return PAGE.format(message=html.escape(message)).encode()


def refusal_page(
    status: int, message: str, *, headers: dict[str, str] | None = None
) -> HTMLResponse:
    return HTMLResponse(
        refusal_body(message),
        status_code=status,
        headers={"Content-Security-Policy": POLICY, **(headers or {})},
    )
