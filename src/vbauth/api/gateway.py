"""The gateway (``/v1.0/*`` that vbauth does not own) and forward-auth (``/auth/verify``)."""

from __future__ import annotations

from urllib.parse import parse_qsl

from fastapi import APIRouter, Request, Response
from starlette.routing import Match

from vbauth.api.deps import authenticate, client_ip, get_runtime, identify
from vbauth.api.errors import ApiError, request_id_of
from vbauth.gateway.identity_header import identity_headers
from vbauth.gateway.policies import UnsafePath, decoded_path
from vbauth.gateway.proxy import forwarded_headers

router = APIRouter(include_in_schema=False)

METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]
# Paths the reference mounts under /v1.0 by mistake (§1.9): point callers to the right one.
UNPREFIXED_AUTH = ("/v1.0/auth/",)


VERIFY_PREFIX = "/auth/verify"


@router.api_route("/v1.0/{rest:path}", methods=METHODS)
async def gateway(request: Request) -> Response:
    """Forward an authorized request to the upstream its route policy names."""
    runtime = get_runtime(request)
    raw_path = _raw_path(request)
    policy = runtime.routes.match(_checked(raw_path))
    if policy is None:
        raise _unrouted(request)
    identity = await authenticate(request, runtime)
    policy.authorize(identity)
    request_id = request_id_of(request)
    signed = identity_headers(runtime.upstream_keys, identity, request_id)
    headers = forwarded_headers(
        request, signed, client_ip(request, runtime.trusted_networks), request_id
    )
    return await runtime.upstreams.forward(request, policy, raw_path, headers)


@router.api_route(VERIFY_PREFIX + "{original:path}", methods=METHODS)
async def verify(request: Request, original: str) -> Response:
    """Forward-auth for an existing proxy: 200 with identity headers, or the 401/403 envelope.

    The original request is read from ``X-Original-URI``/``X-Original-Method`` (nginx
    ``auth_request``), ``X-Forwarded-Uri``/``X-Forwarded-Method`` (Traefik ForwardAuth), or the
    path after ``/auth/verify`` with this request's method (Envoy ext_authz ``path_prefix``).
    """
    runtime = get_runtime(request)
    if original:
        raw_path, query = _raw_path(request).removeprefix(VERIFY_PREFIX), request.url.query
    else:
        uri = request.headers.get("x-original-uri") or request.headers.get("x-forwarded-uri")
        raw_path, _, query = (uri or "/").partition("?")
    policy = runtime.routes.match(_checked(raw_path))
    if policy is None:
        raise ApiError(404, "ROUTE_NOT_FOUND", "The requested endpoint does not exist.")
    identity = await identify(
        runtime, request.headers, request.cookies, dict(parse_qsl(query, keep_blank_values=True))
    )
    policy.authorize(identity)
    return Response(
        status_code=200,
        headers=identity_headers(runtime.upstream_keys, identity, request_id_of(request)),
    )


def _raw_path(request: Request) -> str:
    """The path as the client spelt it (percent-encoding kept), which is what gets forwarded."""
    raw = request.scope.get("raw_path")
    return raw.decode("latin-1") if raw else request.url.path


def _checked(raw_path: str) -> str:
    try:
        return decoded_path(raw_path)
    except UnsafePath as error:
        raise ApiError(
            400, "INVALID_PATH", "The path may not hold '.' or '..' segments or encoded separators."
        ) from error


def _unrouted(request: Request) -> ApiError:
    """405 when one of vbauth's own routes has this path; otherwise 404 ROUTE_NOT_FOUND."""
    allowed: set[str] = set()
    for route in request.app.state.own_routes:
        match, _ = route.matches(request.scope)
        if match == Match.PARTIAL:
            allowed |= route.methods
    if allowed:
        return ApiError(
            405,
            "METHOD_NOT_ALLOWED",
            "The method is not allowed on this endpoint.",
            headers={"Allow": ", ".join(sorted(allowed))},
        )
    message = "The requested endpoint does not exist."
    if request.url.path.startswith(UNPREFIXED_AUTH):
        unprefixed = request.url.path.removeprefix("/v1.0")
        message = f"The requested endpoint does not exist on this path; use {unprefixed}."
    return ApiError(404, "ROUTE_NOT_FOUND", message)
