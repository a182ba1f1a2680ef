"""Render the mail-link pages with a per-response CSP nonce and no external asset."""

from __future__ import annotations

import secrets
from functools import cache
from importlib.resources import files
from string import Template

from fastapi.responses import HTMLResponse

PAGES = files("vbauth.pages")


@cache
def _read(name: str) -> str:
    return PAGES.joinpath(name).read_text(encoding="utf-8")


def page(*, title: str, name: str) -> HTMLResponse:
    """``name``.html (content) and ``name``.js (behaviour) inside the shared page frame."""
    nonce = secrets.token_urlsafe(16)
    html = Template(_read("page.html")).substitute(
        title=title, nonce=nonce, content=_read(f"{name}.html"), script=_read(f"{name}.js")
    )
    # Only this response's own inline style and script may run, and only back to this origin.
    policy = (
        f"default-src 'none'; script-src 'nonce-{nonce}'; style-src 'nonce-{nonce}'; "
        "connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
    )
    return HTMLResponse(
        html,
        headers={
            "Content-Security-Policy": policy,
            "Referrer-Policy": "no-referrer",
            "Cache-Control": "no-store",
            "X-Content-Type-Options": "nosniff",
        },
    )
