"""Render the mail-link pages with a per-response CSP nonce and no external asset."""

from __future__ import annotations

import secrets
from collections.abc import Callable
from functools import cache
from importlib.resources import files
from string import Template

from fastapi.responses import HTMLResponse

PAGES = files("vbauth.pages")


@cache
def _read(name: str) -> str:
    return PAGES.joinpath(name).read_text(encoding="utf-8")


# Only the response's own inline style and script may run, and only back to this origin.
LINK_PAGE_POLICY = Template(
    "default-src 'none'; script-src 'nonce-$nonce'; style-src 'nonce-$nonce'; "
    "connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
)


def page(*, title: str, name: str) -> HTMLResponse:
    """``name``.html (content) and ``name``.js (behaviour) inside the shared page frame."""
    frame = Template(_read("page.html"))
    return nonced_page(
        lambda nonce: frame.substitute(
            title=title, nonce=nonce, content=_read(f"{name}.html"), script=_read(f"{name}.js")
        ),
        LINK_PAGE_POLICY,
    )


def nonced_page(render: Callable[[str], str], policy: Template) -> HTMLResponse:
    """An HTML page and its CSP, both given a nonce of this response's own (``$nonce``).

    No-store and nosniff come from the front layer, as for every answer of vbauth's own.
    """
    nonce = secrets.token_urlsafe(16)
    return HTMLResponse(
        render(nonce),
        headers={
            "Content-Security-Policy": policy.substitute(nonce=nonce),
            "Referrer-Policy": "no-referrer",
        },
    )
