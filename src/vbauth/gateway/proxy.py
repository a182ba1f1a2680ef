"""Forwarding an authorized request to its upstream: credentials out, identity in, streamed."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable, Mapping
from urllib.parse import unquote, unquote_plus

import aiohttp
from multidict import CIMultiDict
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from yarl import URL

from vbauth.api.errors import ApiError
from vbauth.api.front import BODY_REFUSED
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
    # uvicorn already answered the client's 100-continue; passed on, it would have the HTTP
    # client wait for an upstream's 100 that an upstream may rightly never send.
    "expect",
    # Client addresses other proxies vouch for, and rewrites other frameworks obey: from a
    # client they are lies an upstream might believe (X-Forwarded-For carries the real one).
    "x-real-ip",
    "true-client-ip",
    "cf-connecting-ip",
    "x-client-ip",
    "x-original-url",
    "x-rewrite-url",
    "x-http-method-override",
    "x-http-method",
    "x-method-override",
    "client-ip",
    "x-cluster-client-ip",
    "fastly-client-ip",
    "x-proxyuser-ip",
    "x-original-forwarded-for",
    "x-forwarded",
    "forwarded-for",
    "x-original-host",
    "x-host",
    "x-scheme",
    "front-end-https",
    "x-original-uri",  # the forward-auth conventions: a proxy's word, not a client's
    "proxy-connection",
}


def without_credentials(query: str) -> str:
    """The query string minus ``token`` and ``accesskey``, which never leave vbauth.

    Every other pair goes on exactly as the client encoded it; names are compared decoded, as
    the server read them (``%74oken`` too).
    """
    kept = [
        pair
        for pair in query.split("&")
        if pair and unquote_plus(pair.partition("=")[0]) not in CREDENTIAL_NAMES
    ]
    return "&".join(kept)


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


def connection_named(header: str) -> frozenset[str]:
    """The header names a Connection header lists, lower-case (with ``-`` for ``_``)."""
    return frozenset(
        token.strip().lower().replace("_", "-") for token in header.split(",") if token.strip()
    )


def _dropped(name: str, dropped: frozenset[str]) -> bool:
    """Any X-Forwarded-* is vbauth's to set (it sets For, Proto and Host itself)."""
    return name in dropped or name.startswith("x-forwarded-")


def forwarded_headers(
    request: Request, identity_headers: Mapping[str, str], client: str, request_id: str
) -> list[tuple[str, str]]:
    """The request's headers as an upstream should see them.

    Credentials go; so does anything a client sent that looks like vbauth's identity headers,
    since only vbauth may set those.
    """
    # A header the client named in Connection is hop-by-hop for this hop only (RFC 9110 §7.6.1).
    named = ",".join(request.headers.getlist("connection"))
    dropped = DROPPED_REQUEST_HEADERS | connection_named(named)
    headers = [
        (name, value)
        for name, value in request.headers.items()
        # CGI-style upstreams read X_Forwarded_For as X-Forwarded-For: compare both spellings.
        if not _dropped(name.replace("_", "-"), dropped) and not is_identity_header(name)
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
    """How requests reach upstreams: one pooled aiohttp session for http(s)://, and a direct
    in-process call for ``asgi://`` apps (the demo).

    aiohttp, not httpx: under 64 concurrent forwards httpx's connection pool spent over 2 ms of
    CPU per request scanning its connections (bench: the gateway ran at a tenth of its upstream),
    aiohttp about 85 µs.
    """

    def __init__(
        self, *, timeout: float, connect_timeout: float, local_apps: Mapping[str, ASGIApp]
    ) -> None:
        self._timeout = aiohttp.ClientTimeout(
            total=None, connect=connect_timeout, sock_connect=connect_timeout, sock_read=timeout
        )
        # The whole wait for an answer's head, whatever the wait is for (a body being sent,
        # an upstream that never answers): aiohttp's own timeouts each cover only a part.
        self._answer_seconds = connect_timeout + timeout
        self._read_seconds = timeout
        self._local_apps = local_apps
        self._session: aiohttp.ClientSession | None = None

    async def forward(
        self, request: Request, policy: RoutePolicy, raw_path: str, headers: list[tuple[str, str]]
    ) -> ASGIApp:
        """Forward to ``raw_path``: the path exactly as the client sent it and the policy saw it.

        Returns the answer to give the client (an ASGI app), or raises the 502/504 envelope.
        """
        query = without_credentials(request.url.query)
        if policy.upstream.startswith("asgi://"):
            app = self._local_apps[policy.upstream.removeprefix("asgi://")]
            return _InProcess(app, request, raw_path, query, headers)
        url = URL(policy.upstream + raw_path + (f"?{query}" if query else ""), encoded=True)
        has_body = "content-length" in request.headers or "transfer-encoding" in request.headers
        try:
            async with asyncio.timeout(self._answer_seconds):
                answer = await self._client().request(
                    request.method,
                    url,
                    headers=_outgoing(headers),
                    data=request.stream() if has_body else None,
                    allow_redirects=False,
                    # Only what the client sent: the body is relayed raw, so an upstream must
                    # compress only if the client asked, and must see no header we made up.
                    skip_auto_headers=AUTO_HEADERS,
                )
        except (TimeoutError, aiohttp.ServerTimeoutError) as error:
            log.warning("upstream %s timed out: %s", policy.upstream, type(error).__name__)
            raise ApiError(
                504, "UPSTREAM_TIMEOUT", "The upstream service did not answer in time."
            ) from error
        except (aiohttp.ClientError, OSError) as error:
            log.warning("upstream %s failed: %s", policy.upstream, type(error).__name__)
            raise ApiError(
                502, "UPSTREAM_UNAVAILABLE", "The upstream service is unavailable."
            ) from error
        return _Relay(answer, read_seconds=self._read_seconds)

    def _client(self) -> aiohttp.ClientSession:
        if self._session is None:  # made on first use, inside the running loop
            # A bound per upstream, none overall: one slow upstream cannot take every
            # connection from the others.
            connector = aiohttp.TCPConnector(limit=0, limit_per_host=200, ttl_dns_cache=60)
            self._session = aiohttp.ClientSession(
                connector=connector,
                timeout=self._timeout,
                auto_decompress=False,
                cookie_jar=aiohttp.DummyCookieJar(),  # a proxy keeps no cookies of its own
            )
        return self._session

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None


# Headers aiohttp would add by itself; the upstream gets only what the client (and vbauth) sent.
AUTO_HEADERS = ("User-Agent", "Accept", "Accept-Encoding", "Content-Type")


def _outgoing(headers: list[tuple[str, str]]) -> CIMultiDict[str]:
    """The headers as aiohttp will write them (UTF-8): a value that is not valid UTF-8 cannot go
    out byte for byte, so it is refused rather than silently rewritten."""
    outgoing: CIMultiDict[str] = CIMultiDict()
    for name, value in headers:
        if not value.isascii():
            try:
                value = value.encode("latin-1").decode("utf-8")
            except UnicodeDecodeError as error:
                raise ApiError(
                    400,
                    "INVALID_HEADER",
                    f'The value of the "{name}" header is neither ASCII nor UTF-8.',
                ) from error
        outgoing.add(name, value)
    return outgoing


class UpstreamBrokeOff(Exception):
    """The upstream's answer stopped halfway: the client must see it cut, not complete."""


class _Relay:
    """The upstream's answer, relayed as it arrives; hop-by-hop headers stay behind.

    A body that stalls longer than the upstream timeout, or breaks (a closed connection, bad
    chunk framing), ends the exchange with ``UpstreamBrokeOff``: the server then aborts the
    connection, so the client cannot take a cut answer for a whole one.
    """

    def __init__(self, answer: aiohttp.ClientResponse, *, read_seconds: float) -> None:
        self.answer = answer
        self.read_seconds = read_seconds

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        answer = self.answer
        try:
            headers = relayed_headers(answer.raw_headers)
            await send({"type": "http.response.start", "status": answer.status, "headers": headers})
            while chunk := await self._next_chunk():
                await send({"type": "http.response.body", "body": chunk, "more_body": True})
            await send({"type": "http.response.body", "body": b""})
        finally:
            answer.release()

    async def _next_chunk(self) -> bytes:
        try:
            async with asyncio.timeout(self.read_seconds):
                return await self.answer.content.readany()
        except Exception as error:  # timeouts, ClientError, framing errors alike
            log.warning("upstream body broke off: %s", type(error).__name__)
            raise UpstreamBrokeOff() from error


# Not relayed from an upstream's answer: hop-by-hop headers, and Date (the server sets its own).
RELAYED_NOT = HOP_BY_HOP | {"date"}


def relayed_headers(raw: Iterable[tuple[bytes, bytes]]) -> list[tuple[bytes, bytes]]:
    """An upstream answer's headers as the client may see them.

    Hop-by-hop ones stay (those its Connection names too), and so does any Set-Cookie for
    vbauth's credential cookies: an upstream must not sign a browser in or out of vbauth.
    """
    pairs = list(raw)
    named = b",".join(value for name, value in pairs if name.lower() == b"connection")
    dropped = RELAYED_NOT | connection_named(named.decode("latin-1"))
    kept = []
    for name, value in pairs:
        lowered = name.decode("latin-1").lower()
        if lowered in dropped:
            continue
        if lowered == "set-cookie" and _cookie_name(value) in CREDENTIAL_NAMES | {""}:
            continue  # vbauth's credentials, or a cookie a browser would read another way
        kept.append((name, value))
    return kept


def _cookie_name(set_cookie: bytes) -> str:
    """The name a browser stores the cookie under; a nameless ``=token=x`` is stored as
    ``token=x`` (RFC 6265bis §5.6) and sent back as the cookie ``token``."""
    pair = set_cookie.decode("latin-1").split(";", 1)[0]
    name, _, value = pair.partition("=")
    if not name.strip():
        name = value.partition("=")[0] if "=" in value else ""
    return name.strip().lower()


class BodyRefused(Exception):
    """The in-process app saw a body vbauth cut off: vbauth's own answer goes out instead."""


class _InProcess:
    """An upstream that is an ASGI app of this process: called directly, as a server would."""

    def __init__(
        self,
        app: ASGIApp,
        request: Request,
        raw_path: str,
        query: str,
        headers: list[tuple[str, str]],
    ) -> None:
        self.app = app
        self.scope: Scope = {
            "type": "http",
            "asgi": {"version": "3.0"},
            "http_version": "1.1",
            "method": request.method,
            "scheme": "http",
            "server": ("vbauth-upstream", 80),
            "client": request.scope.get("client"),
            "root_path": "",
            "path": unquote(raw_path),
            "raw_path": raw_path.encode("latin-1"),
            "query_string": query.encode("latin-1"),
            "headers": [
                (name.lower().encode("latin-1"), value.encode("latin-1")) for name, value in headers
            ],
        }

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        started = False

        async def relay(message: Message) -> None:
            nonlocal started
            if scope.get(BODY_REFUSED):
                return  # the app's own answer to a body we cut off; vbauth's own follows
            if message["type"] == "http.response.start":
                started = True
                message = {**message, "headers": relayed_headers(message.get("headers", []))}
            await send(message)

        try:
            await self.app(self.scope, receive, relay)
            if scope.get(BODY_REFUSED):
                raise BodyRefused()
        except (HTTPException, BodyRefused):
            raise
        except Exception as error:
            if started:
                raise
            log.warning("in-process upstream failed: %s", type(error).__name__)
            raise ApiError(
                502, "UPSTREAM_UNAVAILABLE", "The upstream service is unavailable."
            ) from error
