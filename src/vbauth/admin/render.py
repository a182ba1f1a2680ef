"""Templates, the two static assets, and the headers every console page carries."""

from __future__ import annotations

import hashlib
from functools import cache
from importlib.resources import files
from typing import Any

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response

from vbauth.clock import format_timestamp

# Nothing runs or loads but the console's own script and stylesheet, and nothing may frame it.
POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
    "connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
)
PAGE_HEADERS = {
    "Content-Security-Policy": POLICY,
    # Not no-referrer: with it Chromium sends "Origin: null" on form posts, and the console
    # checks that a form came from itself. Other sites still get no referrer at all.
    "Referrer-Policy": "same-origin",
    "X-Frame-Options": "DENY",  # for browsers that predate frame-ancestors
    "Cross-Origin-Opener-Policy": "same-origin",
}
# What a page has when nobody is signed in and nothing went wrong.
NOBODY = {"signed_in": None, "notice": None, "error": "", "error_field": "", "method": ""}
ASSETS = {
    "console.css": "text/css; charset=utf-8",
    "console.js": "text/javascript; charset=utf-8",
    "favicon.svg": "image/svg+xml",  # asked for by every browser: better served than a 404
}
STATIC = files("vbauth.admin").joinpath("static")


def _when(moment: Any) -> str:
    """A timestamp as people read it: to the minute, in UTC (the API's own form is exact)."""
    if moment is None:
        return "never"
    return format_timestamp(moment)[:16].replace("T", " ") + " UTC"


TEMPLATES = Environment(
    loader=PackageLoader("vbauth.admin", "templates"),
    autoescape=select_autoescape(default=True, default_for_string=True),
    undefined=StrictUndefined,  # a misspelt name fails the tests instead of rendering blank
    trim_blocks=True,
    lstrip_blocks=True,
)
TEMPLATES.filters["when"] = _when


@cache
def asset(name: str) -> tuple[bytes, str]:
    """An asset's bytes and its version (a digest of them, for URLs cached for good)."""
    body = STATIC.joinpath(name).read_bytes()
    return body, hashlib.sha256(body).hexdigest()[:12]


def asset_url(name: str) -> str:
    return f"/admin/static/{name}?v={asset(name)[1]}"


TEMPLATES.globals["asset_url"] = asset_url


def page(template: str, status: int = 200, **context: Any) -> HTMLResponse:
    """A page; a signed-in page also passes ``signed_in``, ``nav``, ``here`` and ``csrf``."""
    html = TEMPLATES.get_template(template).render({**NOBODY, **context})
    return HTMLResponse(html, status_code=status, headers=PAGE_HEADERS)


async def static_asset(request: Request) -> Response:
    name = request.path_params["name"]
    if name not in ASSETS:
        return page("missing.html", 404)
    body, _version = asset(name)
    return Response(
        body,
        media_type=ASSETS[name],
        headers={
            "Cache-Control": "public, max-age=31536000, immutable",
            "Content-Security-Policy": "default-src 'none'; frame-ancestors 'none'",
        },
    )
