"""The front door: one pure ASGI layer in front of everything vbauth serves.

Every request pays for what happens here, so it does the fixed work once and cheaply: the
request id, the declared body limit, one access-log record (written off the loop, see
``logs.BackgroundStreamHandler``), and the choice of who answers. The hot paths (``/ping``,
forward-auth, the gateway) are answered here without FastAPI's routing and dependency solving;
vbauth's own API (``/auth/*`` and the ``/v1.0`` resources it owns) goes to FastAPI.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Iterable

from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect, Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from vbauth.api.client import bucket_key, scope_client
from vbauth.api.errors import ApiError, BodyTimeout, envelope, response_for, unavailable
from vbauth.api.middleware import accept_request_id, refuse, too_large
from vbauth.db import database_unavailable
from vbauth.limits.policy import Limits, client_tier
from vbauth.logs import ACCESS_LOGGER, redact_query, redact_shapes
from vbauth.metrics import RequestMetrics
from vbauth.services import audit
from vbauth.services.errors import ServiceError, TooManyRequests
from vbauth.settings import Network

access_log = logging.getLogger(ACCESS_LOGGER)
log = logging.getLogger("vbauth.api")

HotHandler = Callable[[Scope, Receive, Send], Awaitable[None]]
CachedHandler = Callable[[Scope, Send], Awaitable[bool]]  # False: not answered, ask the API
PONG = {
    "type": "http.response.start",
    "status": 200,
    "headers": [(b"content-type", b"text/plain; charset=utf-8"), (b"content-length", b"4")],
}
API_PREFIX = "/v1.0/"
VERIFY_PREFIX = "/auth/verify"
ANSWERING = "vbauth.answering"  # in scope: has the answer begun? (too late for an error then)
# In scope: what was wrong with the body, "too large" or "stalled" (see _limited).
BODY_REFUSED = "vbauth.body_refused"
UPSTREAM_ANSWER = "vbauth.upstream_answer"  # in scope: the gateway relays an upstream's answer
NO_STORE = (b"cache-control", b"no-store")
# Headers only vbauth sets on an answer: an upstream's are dropped, so it cannot weaken them
# (browsers heed the first HSTS header they see).
OURS_ONLY = frozenset({b"x-request-id", b"x-content-type-options", b"strict-transport-security"})
# A request's headers: more than any client of an API needs, far less than a server could hold.
MAX_HEADERS = 100
MAX_HEADER_BYTES = 16 * 1024
HEADERS_MESSAGE = "The request headers are too many or too large."
# The longest a body may pause between two of its parts: a client that stops sending halfway
# must not hold a request (and, through the gateway, an upstream connection) for ever.
BODY_PAUSE_SECONDS = 30.0


class Front:
    """Request id, body limit and access log, around everything (``inner``: a ``Dispatch``).

    Every answer also gets ``X-Content-Type-Options: nosniff``, HSTS when vbauth's public URL is
    https, and, unless it says otherwise, ``Cache-Control: no-store``: vbauth's answers belong
    to one credential and often carry a secret. An upstream's answer through the gateway keeps
    its own caching policy.
    """

    def __init__(
        self,
        inner: ASGIApp,
        *,
        max_body_bytes: int,
        https: bool = False,
        metrics: RequestMetrics | None = None,
        structured_logs: bool = False,
        trusted_networks: list[Network] | None = None,
    ) -> None:
        self.inner = inner
        self.max_body_bytes = max_body_bytes
        # JSON logs: each access line also carries its fields (worked out only then).
        self.structured_logs = structured_logs
        self.trusted_networks = trusted_networks or []
        self.metrics = metrics  # None: VBAUTH_METRICS=off, and a request costs nothing more
        self.always = [(b"x-content-type-options", b"nosniff")]
        if https:
            self.always.append((b"strict-transport-security", b"max-age=31536000"))

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind not in ("http", "websocket"):
            await self.inner(scope, receive, send)  # lifespan
            return
        request_id, declared, header_bytes = _read_headers(scope["headers"])
        scope.setdefault("state", {})["request_id"] = request_id
        id_header = (b"x-request-id", request_id.encode())
        started, status = time.perf_counter(), 0

        async def send_with_id(message: Message) -> None:
            nonlocal status
            kind = message["type"]
            if kind == "http.response.start" or kind == "websocket.http.response.start":
                status = message["status"]
                # A new message: the one given may be shared (PONG is) and must stay as it was.
                headers = self._headers(scope, message.get("headers", ()), id_header)
                message = {**message, "headers": headers}
            elif kind == "websocket.accept":
                status = 101
            await send(message)

        try:
            if kind != "http":
                await self.inner(scope, receive, send_with_id)
            elif header_bytes > MAX_HEADER_BYTES or len(scope["headers"]) > MAX_HEADERS:
                await refuse(scope, send_with_id, 431, "HEADERS_TOO_LARGE", HEADERS_MESSAGE)
            elif declared is None or declared > self.max_body_bytes:
                await too_large(scope, send_with_id)
            else:
                answering = scope[ANSWERING] = lambda: status != 0
                limited = _limited(scope, receive, self.max_body_bytes, answering=answering)
                await self.inner(scope, limited, send_with_id)
        finally:
            if access_log.isEnabledFor(logging.INFO):
                fields = (
                    self._fields(scope, status, started, request_id)
                    if self.structured_logs
                    else None
                )
                _log_access(scope, status, started, request_id, fields)
            if self.metrics is not None:
                self.metrics.observe(
                    route_label(scope),
                    scope.get("method", "WS"),
                    status or 500,
                    time.perf_counter() - started,
                )

    def _fields(
        self, scope: Scope, status: int, started: float, request_id: str
    ) -> dict[str, object]:
        """An access line's fields for JSON logs: whose request it was, never its credential."""
        identity = scope["state"].get("identity")
        return {
            "request_id": request_id,
            "method": scope.get("method", "WS"),
            "route": route_label(scope),
            "status": status or 500,
            "latency_ms": round((time.perf_counter() - started) * 1000, 2),
            "identity_kind": getattr(identity, "kind", None),
            "customer_id": str(identity.customer_id) if identity is not None else None,
            "client_ip": scope_client(scope, self.trusted_networks),
        }

    def _headers(
        self, scope: Scope, given: Iterable[tuple[bytes, bytes]], id_header: tuple[bytes, bytes]
    ) -> list[tuple[bytes, bytes]]:
        headers, caching_said = [], False
        for pair in given:
            name = pair[0].lower()
            if name in OURS_ONLY:
                continue  # ours replace any other (an upstream's, say): one of each per answer
            caching_said = caching_said or name == b"cache-control"
            headers.append(pair)
        headers.append(id_header)
        headers += self.always
        if not caching_said and not scope.get(UPSTREAM_ANSWER):
            headers.append(NO_STORE)
        return headers


class Dispatch:
    """Who answers: the hot handlers directly, or FastAPI (``api``) for vbauth's own API.

    ``cached_paths`` are GET routes of the API whose answer ``cached`` may give from the cache.

    ``own_segments`` are the first segments under ``/v1.0/`` that vbauth's own API serves
    (``me``, ``agents``, ...); any other ``/v1.0/`` path belongs to the gateway.
    """

    def __init__(
        self,
        api: ASGIApp,
        *,
        verify: HotHandler,
        gateway: HotHandler,
        cached: CachedHandler,
        cached_paths: frozenset[str],
        own_segments: frozenset[str],
        limits: Limits | None = None,
        trusted_networks: list[Network] | None = None,
    ) -> None:
        self.api = api
        self.limits = limits
        self.trusted_networks = trusted_networks or []
        self.verify = verify
        self.gateway = gateway
        self.cached = cached
        self.cached_paths = cached_paths
        self.own_segments = own_segments

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path: str = scope.get("path", "")
        if scope["type"] in ("http", "websocket"):
            # For the audit log: who is asking, worked out only if an entry is written. Not
            # for the lifespan: the background jobs it starts act as the operator.
            audit.current_scope.set((scope, self._client_address))
        if scope["type"] != "http":
            await self.api(scope, receive, send)  # sockets check their limits (api/ws.py)
        elif self.limits is not None and not await self._admitted(path, scope, receive, send):
            return
        elif path == "/ping" and scope["method"] in ("GET", "HEAD"):
            scope[ROUTE] = "/ping"
            await send(PONG)
            await send({"type": "http.response.body", "body": b"pong"})
        elif path in self.cached_paths and scope["method"] == "GET":
            scope[ROUTE] = path
            # Served from the cache when it holds this caller's answer; else the route runs.
            if not await self.cached(scope, send):
                await self.api(scope, receive, send)
        elif path.startswith(VERIFY_PREFIX):
            scope[ROUTE] = VERIFY_PREFIX
            await _answer_errors(self.verify, scope, receive, send)
        elif path.startswith(API_PREFIX) and not self._owned(path):
            scope[ROUTE] = "gateway"
            await _answer_errors(self.gateway, scope, receive, send)
        else:
            await self.api(scope, receive, send)

    async def _admitted(self, path: str, scope: Scope, receive: Receive, send: Send) -> bool:
        """Count the request against its client tier before any work; False: 429 was sent."""
        tier = client_tier(path)
        if tier is None or self.limits is None:
            return True
        try:
            await self.limits.check(tier, bucket_key(scope_client(scope, self.trusted_networks)))
        except TooManyRequests as error:
            scope[ROUTE] = "rate-limited"
            await response_for(Request(scope), error)(scope, receive, send)
            return False
        return True

    def _client_address(self, scope: Scope) -> str:
        return scope_client(scope, self.trusted_networks)

    def _owned(self, path: str) -> bool:
        segment = path[len(API_PREFIX) :].partition("/")[0]
        return segment in self.own_segments


def _read_headers(headers: list[tuple[bytes, bytes]]) -> tuple[str, int | None, int]:
    """The request id to use, the declared body length (``None`` when it is malformed), and
    the size of all the headers."""
    inbound, declared, size = None, b"0", 0
    for name, value in headers:
        size += len(name) + len(value)
        if name == b"x-request-id" and inbound is None:
            inbound = value.decode("latin-1")
        elif name == b"content-length":
            declared = value
    return accept_request_id(inbound), int(declared) if declared.isdigit() else None, size


def _limited(
    scope: Scope, receive: Receive, max_bytes: int, *, answering: Callable[[], bool]
) -> Receive:
    """A receive that refuses a streamed body once it passes ``max_bytes``.

    It also notes the refusal in the scope (``BODY_REFUSED``): whoever was reading the body
    (an HTTP client sending it upstream, an in-process app) may turn the error into its own,
    and the answer must still be vbauth's 413.
    """
    received, complete = 0, False

    async def counting_receive() -> Message:
        nonlocal received, complete
        if complete:
            return await receive()  # only a disconnect can come now: no deadline for it
        try:
            async with asyncio.timeout(BODY_PAUSE_SECONDS):
                message = await receive()
        except TimeoutError:
            scope[BODY_REFUSED] = "stalled"
            raise BodyTimeout() from None
        complete = not message.get("more_body", False)
        received += len(message.get("body", b""))
        if received > max_bytes:
            scope[BODY_REFUSED] = "too large"
            if answering():
                # Too late for a 413 (a streamed gateway response has begun): the body
                # simply ends here, as if the client had gone.
                return {"type": "http.disconnect"}
            # Raised inside whatever reads the body: FastAPI's handlers and _answer_errors
            # both turn it into the 413 envelope.
            raise HTTPException(413)
        return message

    return counting_receive


async def _answer_errors(handler: HotHandler, scope: Scope, receive: Receive, send: Send) -> None:
    """Run a hot handler; its errors become the envelope, as FastAPI's handlers make them.

    Once the answer has begun it is too late for an envelope: the error goes on to the server,
    which ends the response.
    """
    try:
        await handler(scope, receive, send)
    except ClientDisconnect:
        return  # nobody is left to answer
    except Exception as error:
        refused = scope.get(BODY_REFUSED)  # however the body's reader chose to report it
        if scope[ANSWERING]():
            raise
        if refused == "too large" or (
            isinstance(error, HTTPException) and error.status_code == 413
        ):
            await too_large(scope, send)
        elif refused == "stalled":
            await refuse(scope, send, 408, "REQUEST_TIMEOUT", BodyTimeout.message)
        elif isinstance(error, ServiceError | ApiError):
            response = response_for(Request(scope), error)
            if scope["path"].startswith(VERIFY_PREFIX):
                # A proxy's auth_request keeps no body: the reason travels as a header, so the
                # proxy can give the client vbauth's envelope (docs/nginx.conf).
                response.headers["x-vb-error"] = error.reason
            await response(scope, receive, send)
        elif database_unavailable(error):
            await unavailable(Request(scope))(scope, receive, send)
        else:
            log.exception("unhandled error in request %s", scope["state"]["request_id"])
            response = envelope(Request(scope), 500, "INTERNAL", "An internal error occurred.")
            await response(scope, receive, send)


ROUTE = "vbauth.route"  # the metrics label of a request the front layer answers itself


def route_label(scope: Scope) -> str:
    """The route a request is counted under: a hot path's name, the template of the route
    that answered it (``/v1.0/agents/{agent_id}``), or ``unmatched``: never the raw path, whose
    every spelling would be a new series."""
    label = scope.get(ROUTE)
    if label is not None:
        return str(label)
    route = scope.get("route")
    return str(getattr(route, "path", "unmatched"))


def _log_access(
    scope: Scope,
    status: int,
    started: float,
    request_id: str,
    fields: dict[str, object] | None = None,
) -> None:
    query = scope.get("query_string", b"")
    shown = redact_query(query.decode("latin-1")) if query else ""
    access_log.info(
        "%s %s%s %s %.1fms %s",
        scope.get("method", "WS"),
        # Raw, as sent (a decoded %0a could forge a log line), and cut where it holds anything
        # shaped like a credential.
        redact_shapes(scope.get("raw_path", b"").decode("latin-1") or scope["path"]),
        f"?{shown}" if shown else "",
        status or 500,
        (time.perf_counter() - started) * 1000,
        request_id,
        extra=fields,
    )
