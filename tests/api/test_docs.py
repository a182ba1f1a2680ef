"""/docs and /redoc over HTTP: vbauth's own pages and assets, under a strict CSP, no CDN."""

from __future__ import annotations

import re
from html.parser import HTMLParser
from importlib.resources import files

import httpx
import pytest

from tests.factories import assert_error

pytestmark = pytest.mark.anyio

PAGES = ("/docs", "/redoc")
VENDOR = files("fastapi_offline").joinpath("static")
MEDIA_TYPES = {
    "swagger-ui-bundle.js": "text/javascript; charset=utf-8",
    "swagger-ui.css": "text/css; charset=utf-8",
    "redoc.standalone.js": "text/javascript; charset=utf-8",
    "favicon.png": "image/png",
    "docs_swagger.js": "text/javascript; charset=utf-8",
    "docs_redoc.js": "text/javascript; charset=utf-8",
}


class Tags(HTMLParser):
    """Every start tag of a page, with its attributes, and the text inside its scripts."""

    def __init__(self, html: str) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.script_text = ""
        self._in_script = False
        self.feed(html)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))
        self._in_script = tag == "script"

    def handle_endtag(self, tag: str) -> None:
        self._in_script = False

    def handle_data(self, data: str) -> None:
        if self._in_script:
            self.script_text += data

    def named(self, tag: str) -> list[dict[str, str | None]]:
        return [attrs for name, attrs in self.tags if name == tag]


def policy(response: httpx.Response) -> dict[str, str]:
    """The CSP's directives, by name."""
    directives = (part.strip() for part in response.headers["content-security-policy"].split(";"))
    return dict(d.split(" ", 1) if " " in d else (d, "") for d in directives if d)


def asset_urls(html: str) -> list[str]:
    tags = Tags(html)
    return [str(a["src"]) for a in tags.named("script")] + [
        str(a["href"]) for a in tags.named("link")
    ]


@pytest.mark.parametrize("path", PAGES)
async def test_the_pages_have_a_strict_policy(client: httpx.AsyncClient, path: str) -> None:
    response = await client.get(path)
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/html; charset=utf-8"
    csp = policy(response)
    assert csp["default-src"] == "'none'"
    assert csp["script-src"] == "'self'"  # nothing inline, nothing from elsewhere, no eval
    assert csp["frame-ancestors"] == "'none'"
    assert csp["base-uri"] == "'none'"
    assert csp["form-action"] == "'none'"
    assert csp["connect-src"] == "'self'"
    assert csp["img-src"] == "'self' data:"
    assert "unsafe-inline" not in response.headers["content-security-policy"]
    assert response.headers["referrer-policy"] == "no-referrer"
    assert response.headers["cache-control"] == "no-store"
    assert response.headers["x-content-type-options"] == "nosniff"


async def test_only_redoc_may_start_a_worker_and_use_its_nonce(client: httpx.AsyncClient) -> None:
    swagger = policy(await client.get("/docs"))
    assert swagger["style-src"] == "'self'"
    assert "worker-src" not in swagger
    first, second = await client.get("/redoc"), await client.get("/redoc")
    redoc = policy(first)
    assert redoc["worker-src"] == "blob:"
    nonce = re.fullmatch(r"'self' 'nonce-([\w-]{22})'( 'sha256-[\w+/]+=')+", redoc["style-src"])
    assert nonce, redoc["style-src"]
    # The init script carries the response's nonce (for ReDoc's styles), fresh every time.
    assert Tags(first.text).named("script")[-1]["nonce"] == nonce.group(1)
    assert nonce.group(1) not in second.headers["content-security-policy"]


@pytest.mark.parametrize("path", PAGES)
async def test_the_pages_load_nothing_inline_and_nothing_from_elsewhere(
    client: httpx.AsyncClient, path: str
) -> None:
    html = (await client.get(path)).text
    tags = Tags(html)
    assert tags.named("script")
    assert all(attrs.get("src") for attrs in tags.named("script"))
    assert tags.script_text.strip() == ""
    assert not tags.named("style")
    assert not any("style" in attrs for _, attrs in tags.tags)
    assert not any(name.startswith("on") for _, attrs in tags.tags for name in attrs)
    assert "://" not in html
    assert "cdn" not in html.lower()
    assert all(url.startswith("/docs/assets/") for url in asset_urls(html))


@pytest.mark.parametrize("path", PAGES)
async def test_every_asset_of_a_page_is_served_and_kept_by_its_digest(
    client: httpx.AsyncClient, path: str
) -> None:
    for url in asset_urls((await client.get(path)).text):
        name = url.removeprefix("/docs/assets/").partition("?v=")[0]
        response = await client.get(url)
        assert response.status_code == 200, url
        assert response.headers["content-type"] == MEDIA_TYPES[name]
        assert response.headers["x-content-type-options"] == "nosniff"
        assert response.headers["cache-control"] == "public, max-age=31536000, immutable"
        assert response.content, url


async def test_an_asset_asked_for_without_its_digest_is_checked_again(
    client: httpx.AsyncClient,
) -> None:
    for query in ("", "?v=0123456789abcdef"):
        response = await client.get(f"/docs/assets/swagger-ui.css{query}")
        assert response.status_code == 200
        assert response.headers["content-type"] == "text/css; charset=utf-8"
        assert response.headers["cache-control"] == "no-cache"
        assert b".swagger-ui" in response.content


async def test_the_vendor_files_are_the_installed_packages(client: httpx.AsyncClient) -> None:
    for name in ("swagger-ui-bundle.js", "swagger-ui.css", "favicon.png"):
        response = await client.get(f"/docs/assets/{name}")
        assert response.content == VENDOR.joinpath(name).read_bytes()
    redoc = (await client.get("/docs/assets/redoc.standalone.js")).content
    installed = VENDOR.joinpath("redoc.standalone.js").read_bytes()
    # All but the sidebar logo's address on Redocly's CDN (api/docs.py).
    assert b"cdn.redoc.ly" in installed
    assert b"cdn.redoc.ly" not in redoc
    assert len(redoc) == len(installed) - len(b"https://cdn.redoc.ly/redoc/logo-mini.svg")


@pytest.mark.parametrize(
    "name",
    [
        "nope.js",
        "core.py",
        "__init__.py",
        "docs_swagger.html",
        "consts.py",
        "SWAGGER-UI.CSS",
        "swagger-ui.css.map",
        "..%2Fcore.py",
        "..%2F..%2Fapi%2Fdocs.py",
        "%2Fetc%2Fpasswd",
    ],
)
async def test_nothing_else_is_served_under_the_assets(
    client: httpx.AsyncClient, name: str
) -> None:
    response = await client.get(f"/docs/assets/{name}")
    assert_error(response, 404, "ROUTE_NOT_FOUND")
    assert response.headers["content-type"] == "application/json"
    assert response.headers["cache-control"] == "no-store"


async def test_fastapis_own_docs_are_gone_and_the_document_stays(
    client: httpx.AsyncClient,
) -> None:
    assert_error(await client.get("/docs/oauth2-redirect"), 404, "ROUTE_NOT_FOUND")
    document = (await client.get("/openapi.json")).json()
    assert "/auth/login" in document["paths"]
    assert not any(
        p == "/docs" or p == "/redoc" or p.startswith("/docs/") for p in document["paths"]
    )
