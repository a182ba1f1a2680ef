"""Forwarding an authorized request to its upstream: credentials out, identity in, streamed."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from urllib.parse import parse_qsl, urlencode

import httpx
from starlette.background import BackgroundTask
from starlette.requests import Request
from starlette.responses import StreamingResponse
from starlette.types import ASGIApp

from vbauth.api.errors import ApiError
from vbauth.gateway.policies import RoutePolicy

log = logging.getLogger("vbauth.gateway")

CREDENTIAL_NAMES = frozenset({"token", "accesskey"})
# Hop-by-hop headers (RFC 9110 §7.6.1) and those the proxy sets itself.
HOP_BY_HOP = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
        "host",
    }
)
DROPPED_REQUEST_HEADERS = HOP_BY_HOP | {
    "authorization",
    "cookie",
    "x-forwarded-for",
    "x-forwarded-host",
    "x-forwarded-proto",
    "forwarded",
    "x-request-id",
}


def without_credentials(query: str) -> str:
    """The query string minus ``token`` and ``accesskey``, which never leave vbauth."""
    pairs = parse_qsl(query, keep_blank_values=True)
    return urlencode([(name, value) for name, value in pairs if name not in CREDENTIAL_NAMES])


def cookie_header_without_credentials(header: str) -> str:
    """The Cookie header minus ``token`` and ``accesskey``.

    Split exactly as Starlette splits it when looking for credentials (on ``;``, quotes
    ignored), so a cookie that authenticated the request can never hide from this filter
    inside another cookie's quoted value.
    """
    kept = []
    for chunk in header.split(";"):
        name = chunk.split("=", 1)[0].strip() if "=" in chunk else ""
        if name not in CREDENTIAL_NAMES and chunk.strip():
            kept.append(chunk.strip())
    return "; ".join(kept)


def is_identity_header(name: str) -> bool:
    """``X-VB-*``, also spelt with underscores (which CGI-style upstreams read the same)."""
    return name.lower().replace("_", "-").startswith("x-vb-")


def forwarded_headers(
    request: Request, identity_headers: Mapping[str, str], client: str, request_id: str
) -> list[tuple[str, str]]:
    """The request's headers as an upstream should see them.

    Credentials go; so does anything a client sent that looks like vbauth's identity headers,
    since only vbauth may set those.
    """
    headers = [
        (name, value)
        for name, value in request.headers.items()
        if name not in DROPPED_REQUEST_HEADERS and not is_identity_header(name)
    ]
    if cookie := cookie_header_without_credentials(request.headers.get("cookie", "")):
        headers.append(("cookie", cookie))
    # Only the address vbauth itself determined (see VBAUTH_TRUSTED_PROXIES), never a chain a
    # client could have written.
    headers += [
        ("x-forwarded-for", client),
        ("x-forwarded-proto", request.url.scheme),
        ("x-forwarded-host", request.headers.get("host", "")),
        ("x-request-id", request_id),
        *identity_headers.items(),
    ]
    return headers


class Upstreams:
    """One pooled HTTP client for every upstream; ``asgi://demo`` is served in process."""

    def __init__(
        self, *, timeout: float, connect_timeout: float, local_apps: Mapping[str, ASGIApp]
    ) -> None:
        self._timeout = httpx.Timeout(timeout, connect=connect_timeout)
        self._local_apps = local_apps
        self._clients: dict[str, httpx.AsyncClient] = {}

    def client_for(self, upstream: str) -> httpx.AsyncClient:
        key = upstream if upstream.startswith("asgi://") else "http"
        if key not in self._clients:
            self._clients[key] = self._make_client(upstream)
        return self._clients[key]

    def _make_client(self, upstream: str) -> httpx.AsyncClient:
        if upstream.startswith("asgi://"):
            app = self._local_apps[upstream.removeprefix("asgi://")]
            return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), timeout=self._timeout)
        limits = httpx.Limits(max_connections=200, max_keepalive_connections=50)
        return httpx.AsyncClient(timeout=self._timeout, limits=limits, follow_redirects=False)

    async def forward(
        self, request: Request, policy: RoutePolicy, raw_path: str, headers: list[tuple[str, str]]
    ) -> StreamingResponse:
        """Forward to ``raw_path``: the path exactly as the client sent it and the policy saw it."""
        client = self.client_for(policy.upstream)
        query = without_credentials(request.url.query)
        url = policy.upstream + raw_path + (f"?{query}" if query else "")
        has_body = request.method not in ("GET", "HEAD") or "content-length" in request.headers
        # A bare Request, not client.build_request: that would merge httpx's default headers
        # (Accept-Encoding above all: the body is relayed raw, so an upstream must compress
        # only if the client asked).
        outgoing = httpx.Request(
            request.method,
            url,
            # Bytes, as they came: header values may hold any latin-1 byte, not only ASCII.
            headers=[(name.encode("latin-1"), value.encode("latin-1")) for name, value in headers],
            content=request.stream() if has_body else None,
            extensions={"timeout": self._timeout.as_dict()},
        )
        try:
            answer = await client.send(outgoing, stream=True)
        except httpx.TimeoutException as error:
            log.warning("upstream %s timed out: %s", policy.upstream, type(error).__name__)
            raise ApiError(
                504, "UPSTREAM_TIMEOUT", "The upstream service did not answer in time."
            ) from error
        except (httpx.TransportError, OSError) as error:
            log.warning("upstream %s failed: %s", policy.upstream, type(error).__name__)
            raise ApiError(
                502, "UPSTREAM_UNAVAILABLE", "The upstream service is unavailable."
            ) from error
        response = StreamingResponse(
            _relay(answer), status_code=answer.status_code, background=BackgroundTask(answer.aclose)
        )
        # Raw pairs keep repeated headers (Set-Cookie) and the upstream's own framing.
        response.raw_headers = [
            (name, value)
            for name, value in answer.headers.raw
            if name.decode("latin-1").lower() not in HOP_BY_HOP
        ]
        return response

    async def close(self) -> None:
        for client in self._clients.values():
            await client.aclose()
        self._clients.clear()


async def _relay(answer: httpx.Response):  # type: ignore[no-untyped-def]
    """The upstream's body as it arrives; a failure mid-body ends the response early."""
    try:
        async for chunk in answer.aiter_raw():
            yield chunk
    except httpx.HTTPError as error:
        log.warning("upstream body broke off: %s", type(error).__name__)
