"""The gateway (``/v1.0/*`` that vbauth does not own) and forward-auth (``/auth/verify``).

Both are the hot path of every request behind vbauth, so they are plain ASGI handlers that the
front layer (``api/front.py``) calls directly: no FastAPI routing, no dependency solving. Their
errors (``ServiceError``, ``ApiError``) become the envelope there.
"""

from __future__ import annotations

from collections.abc import Mapping
from urllib.parse import parse_qsl

from starlette.requests import Request, cookie_parser
from starlette.types import Message, Receive, Scope, Send

from vbauth import metrics
from vbauth.api.cached_reads import CACHED_READS
from vbauth.api.deps import READ_METHODS, client_ip, identify
from vbauth.api.errors import ApiError, response_for
from vbauth.api.front import UPSTREAM_ANSWER, VERIFY_PREFIX
from vbauth.gateway.policies import UnsafePath, decoded_path
from vbauth.gateway.proxy import forwarded_headers
from vbauth.identity import DelegateIdentity, Identity
from vbauth.runtime import Runtime
from vbauth.services import audit
from vbauth.services.errors import TooManyRequests

# Where each proxy convention puts the original request's method.
METHOD_HEADERS = {"nginx": "x-original-method", "traefik": "x-forwarded-method"}
# Paths the reference mounts under /v1.0 by mistake (§1.9): point callers to the right one.
UNPREFIXED_AUTH = "/v1.0/auth/"


class HotRoutes:
    """The gateway and forward-auth of one running vbauth."""

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime

    async def gateway(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Forward an authorized request to the upstream its route policy names."""
        runtime = self.runtime
        raw_path = _raw_path(scope)
        policy = runtime.routes.match(_checked(raw_path))
        if policy is None:
            raise _unrouted(scope["path"])
        request = Request(scope, receive)
        identity = await identify(runtime, request.headers, request.cookies, request.query_params)
        scope["state"]["identity"] = identity  # for the access log's fields
        await runtime.limits.check_customer(identity, scope["state"])
        policy.authorize(identity)
        await _audit_delegate_write(runtime, identity, scope["method"], raw_path)
        request_id = scope["state"]["request_id"]
        signed = runtime.identity_signer.headers(
            identity,
            request_id,
            audience=policy.audience,
            method=scope["method"],
            path=raw_path,
        )
        headers = forwarded_headers(
            request, signed, client_ip(request, runtime.trusted_networks), request_id
        )
        response = await runtime.upstreams.forward(request, policy, raw_path, headers)

        async def upstream_send(message: Message) -> None:
            if message["type"] == "http.response.start":
                scope[UPSTREAM_ANSWER] = True  # the upstream's own answer: its caching policy
            await send(message)

        await response(scope, receive, upstream_send)

    async def cached(self, scope: Scope, send: Send) -> bool:
        """Answer a cached read (``api/cached_reads.py``) if its body is at hand for this caller.

        Anything else (no credential, a refusal, a failing database, nothing cached) returns
        False, and the route itself runs: it alone words errors, and it fills the cache.
        """
        headers = _header_map(scope["headers"])
        try:
            query = scope["query_string"].decode("latin-1")
            identity = await _identify(self.runtime, headers, query, counted=False)
        except Exception:  # a refusal, or a database that does not answer: the route decides
            return False
        try:
            # Counted here, once: if the route answers after all, it does not count again.
            await self.runtime.limits.check_customer(identity, scope["state"])
        except TooManyRequests as error:
            await response_for(Request(scope), error)(scope, _no_body, send)
            return True
        key = CACHED_READS[scope["path"]](identity)
        body = self.runtime.records.get(key) if key is not None else None
        if body is None:
            return False
        metrics.authentication(identity.kind, "ok")  # answered here: the route never judges it
        start = {"type": "http.response.start", "status": 200, "headers": _json_headers(body)}
        await send(start)
        await send({"type": "http.response.body", "body": body})
        return True

    async def verify(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Forward-auth for an existing proxy: 200 with identity headers, or the 401/403 envelope.

        The original request comes from the proxy's own convention (``VBAUTH_FORWARD_AUTH``):
        ``X-Original-URI`` (nginx ``auth_request``), ``X-Forwarded-Uri`` (Traefik ForwardAuth),
        or the path after ``/auth/verify`` with this request's query (Envoy ext_authz
        ``path_prefix``). In ``auto``, exactly one of them may be present: a proxy that passes
        client headers on (Traefik does, by default) must not let a client add another
        convention's header and be judged against a path it is not requesting.
        """
        headers = _header_map(scope["headers"])
        method, raw_path, query = self._original_request(scope, headers)
        policy = self.runtime.routes.match(_checked(raw_path))
        if policy is None:
            raise ApiError(404, "ROUTE_NOT_FOUND", "The requested endpoint does not exist.")
        identity = await _identify(self.runtime, headers, query)
        scope["state"]["identity"] = identity  # for the access log's fields
        await self.runtime.limits.check_customer(identity, scope["state"])
        policy.authorize(identity)
        await _audit_delegate_write(self.runtime, identity, method, raw_path)
        signed = self.runtime.identity_signer.raw_headers(
            identity,
            scope["state"]["request_id"],
            audience=policy.audience,
            method=method,
            path=raw_path,
        )
        signed.append((b"content-length", b"0"))
        await send({"type": "http.response.start", "status": 200, "headers": signed})
        await send({"type": "http.response.body", "body": b""})

    def _original_request(self, scope: Scope, headers: Mapping[str, str]) -> tuple[str, str, str]:
        """The original request's method, raw path and query, by the configured convention."""
        sources = {
            "envoy": _raw_path(scope).removeprefix(VERIFY_PREFIX) or None,
            "nginx": headers.get("x-original-uri"),
            "traefik": headers.get("x-forwarded-uri"),
        }
        style: str = self.runtime.settings.forward_auth
        if style == "auto":
            present = [name for name, value in sources.items() if value is not None]
            if len(present) > 1:
                raise ApiError(
                    400,
                    "AMBIGUOUS_ORIGINAL_REQUEST",
                    "The original request is named more than one way; set VBAUTH_FORWARD_AUTH.",
                )
            style = present[0] if present else "nginx"
        source = sources[style] or "/"
        if style == "envoy":
            return scope["method"], source, scope["query_string"].decode("latin-1")
        method = headers.get(METHOD_HEADERS[style]) or scope["method"]
        raw_path, _, query = source.partition("?")
        return method.upper(), raw_path, query


async def _audit_delegate_write(
    runtime: Runtime, identity: Identity, method: str, raw_path: str
) -> None:
    """A delegate's every write is on the customer's record, whichever way it passes."""
    if isinstance(identity, DelegateIdentity) and method not in READ_METHODS:
        await audit.record_alone(
            runtime.transaction,
            "delegate_request",
            customer_id=identity.customer_id,
            by=identity,
            details={"method": method, "path": raw_path},
        )


async def _identify(
    runtime: Runtime, headers: Mapping[str, str], query: str, *, counted: bool = True
) -> Identity:
    """The shared decision (``deps.identify``) from raw headers and a raw query string."""
    cookie = headers.get("cookie")
    return await identify(
        runtime,
        headers,
        cookie_parser(cookie) if cookie else {},
        dict(parse_qsl(query, keep_blank_values=True)) if query else {},
        counted=counted,
    )


async def _no_body() -> Message:
    return {"type": "http.request", "body": b"", "more_body": False}


def _json_headers(body: bytes) -> list[tuple[bytes, bytes]]:
    """What ``responses.json_of`` sends with the same body (the front layer adds no-store)."""
    return [(b"content-length", str(len(body)).encode()), (b"content-type", b"application/json")]


def _header_map(raw: list[tuple[bytes, bytes]]) -> Mapping[str, str]:
    """Request headers by lower-case name; the first of repeated ones, as Starlette reads them."""
    headers: dict[str, str] = {}
    for name, value in raw:
        headers.setdefault(name.decode("latin-1"), value.decode("latin-1"))
    return headers


def _raw_path(scope: Scope) -> str:
    """The path as the client spelt it (percent-encoding kept), which is what gets forwarded."""
    raw = scope.get("raw_path")
    return raw.decode("latin-1") if raw else str(scope["path"])


def _checked(raw_path: str) -> str:
    try:
        return decoded_path(raw_path)
    except UnsafePath as error:
        raise ApiError(
            400, "INVALID_PATH", "The path may not hold '.' or '..' segments or encoded separators."
        ) from error


def _unrouted(path: str) -> ApiError:
    message = "The requested endpoint does not exist."
    if path.startswith(UNPREFIXED_AUTH):
        unprefixed = path.removeprefix("/v1.0")
        message = f"The requested endpoint does not exist on this path; use {unprefixed}."
    return ApiError(404, "ROUTE_NOT_FOUND", message)
