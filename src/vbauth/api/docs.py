"""The API docs, Swagger UI (/docs) and ReDoc (/redoc), served by vbauth itself.

FastAPI's own pages load their scripts from a CDN: they fail offline, and they run a third
party's code on the origin that holds the session cookie. Here the vendor files come from the
installed fastapi-offline package, the pages and their init scripts from ``vbauth.docs_pages``,
and each page's CSP lets nothing else load or run.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from functools import cache
from importlib.resources import files
from importlib.resources.abc import Traversable
from string import Template

from fastapi import APIRouter
from fastapi.responses import HTMLResponse, Response

from vbauth.api.errors import ApiError
from vbauth.api.pages import nonced_page

router = APIRouter()

ASSETS_PATH = "/docs/assets"
VENDOR = files("fastapi_offline").joinpath("static")
OURS = files("vbauth.docs_pages")
JS, CSS, PNG = "text/javascript; charset=utf-8", "text/css; charset=utf-8", "image/png"
# The only names served under ASSETS_PATH: where each is read from, and its media type.
ASSETS: dict[str, tuple[Traversable, str]] = {
    "swagger-ui-bundle.js": (VENDOR, JS),
    "swagger-ui.css": (VENDOR, CSS),
    "redoc.standalone.js": (VENDOR, JS),
    "favicon.png": (VENDOR, PNG),
    "docs_swagger.js": (OURS, JS),
    "docs_redoc.js": (OURS, JS),
}
# An asset's URL names its content (?v=digest), so a browser or proxy may keep it for a year:
# a new fastapi-offline or vbauth changes the digest, and the pages (never stored) the URL.
IMMUTABLE = "public, max-age=31536000, immutable"
# The current content under an older or missing digest: usable, never kept without asking.
REVALIDATE = "no-cache"
STRICT = Template(
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "font-src 'self'; connect-src 'self'; base-uri 'none'; form-action 'none'; "
    "frame-ancestors 'none'"
)
# Swagger UI needs nothing more: React sets its inline styles through the CSSOM, which CSP
# does not govern.
SWAGGER_POLICY = STRICT
# ReDoc needs three things more, none of them a script from anywhere but 'self':
# - its styled-components write into <style> elements it makes at run time: they carry this
#   response's nonce (docs_redoc.js hands it to ReDoc), so no other <style> applies;
# - at load, before it can know the nonce, it adds one more <style>, perfect-scrollbar's CSS:
#   allowed by its hash, and the empty <style> it first inserts by the empty string's hash.
#   A new fastapi-offline may change that CSS: the browser then refuses it and names the new
#   hash on the console (tests/test_docs_browser.py fails on it);
# - it builds its search index in a worker made from a blob of its own code: only script
#   already running can make a blob, and script-src 'self' keeps that to our files.
REDOC_STYLE_HASHES = (
    "'sha256-47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=' "  # the empty <style>
    "'sha256-QMIg+bpjm3JdElJ388KYke01izlUW0UoNOeKjpMxdgc='"  # perfect-scrollbar.css
)
REDOC_POLICY = Template(
    "default-src 'none'; script-src 'self'; "
    f"style-src 'self' 'nonce-$nonce' {REDOC_STYLE_HASHES}; img-src 'self' data:; "
    "font-src 'self'; connect-src 'self'; worker-src blob:; base-uri 'none'; "
    "form-action 'none'; frame-ancestors 'none'"
)
# ReDoc's sidebar credit shows Redocly's logo from their CDN, and no option turns it off. With
# an empty address the image fails at once, with no request, and ReDoc hides it (its own
# onError); the credit stays, as text. Should a new bundle spell the address otherwise, nothing
# is replaced, and the browser test sees the request.
PATCHES = {
    "redoc.standalone.js": (b'src:"https://cdn.redoc.ly/redoc/logo-mini.svg"', b'src:""'),
}


@dataclass(frozen=True)
class Asset:
    body: bytes
    media_type: str
    digest: str


@cache
def _asset(name: str) -> Asset:
    folder, media_type = ASSETS[name]
    body = folder.joinpath(name).read_bytes()
    if name in PATCHES:
        body = body.replace(*PATCHES[name])
    return Asset(body, media_type, hashlib.sha256(body).hexdigest()[:16])


def _url(name: str) -> str:
    return f"{ASSETS_PATH}/{name}?v={_asset(name).digest}"


@cache
def _template(name: str) -> Template:
    """The page with its asset URLs filled in; ``$nonce`` is left for each response."""
    html = OURS.joinpath(f"{name}.html").read_text(encoding="utf-8")
    urls = {
        "favicon": _url("favicon.png"),
        "swagger_css": _url("swagger-ui.css"),
        "swagger_js": _url("swagger-ui-bundle.js"),
        "redoc_js": _url("redoc.standalone.js"),
        "init_js": _url(f"{name}.js"),
    }
    return Template(Template(html).safe_substitute(urls))


def _page(name: str, policy: Template) -> HTMLResponse:
    template = _template(name)
    return nonced_page(lambda nonce: template.substitute(nonce=nonce), policy)


@router.get("/docs", include_in_schema=False)
async def swagger_ui() -> HTMLResponse:
    """Swagger UI on this API's OpenAPI document."""
    return _page("docs_swagger", SWAGGER_POLICY)


@router.get("/redoc", include_in_schema=False)
async def redoc() -> HTMLResponse:
    """ReDoc on this API's OpenAPI document."""
    return _page("docs_redoc", REDOC_POLICY)


@router.get(ASSETS_PATH + "/{name}", include_in_schema=False)
async def docs_asset(name: str, v: str = "") -> Response:
    """One of the pages' scripts, styles or icon; nothing else of the package or of vbauth."""
    if name not in ASSETS:
        raise ApiError(404, "ROUTE_NOT_FOUND", "The requested endpoint does not exist.")
    asset = _asset(name)
    return Response(
        asset.body,
        media_type=asset.media_type,
        # nosniff comes from the front layer, as for every answer of vbauth's own.
        headers={"Cache-Control": IMMUTABLE if v == asset.digest else REVALIDATE},
    )
