"""The OpenAPI document: FastAPI's, completed with what FastAPI cannot see.

FastAPI documents successes from the routes' types. It knows nothing of the error envelope, of
how callers authenticate (the credential is read by a dependency, not declared as a parameter),
of the forward-auth and gateway paths the front layer answers, or of the 422 it believes every
body may cause (vbauth answers 400). ``document`` adds each of these, derived from the routes
themselves wherever it can be, so the document stays true as routes change:

- security: from the route's authenticating dependency (``api/gates.py``);
- error answers: 400 for anything with input, 401/403 for guarded routes, 404 for a path id,
  413 for a body, 429 where a rate tier applies, 503 where a database is needed, plus what a
  route declares itself with ``errors(...)``;
- operation ids: the route function's name in camelCase, or the id VoIPBIN gives it.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from fastapi.routing import APIRoute

from vbauth import __version__
from vbauth.api.deps import SameSiteOnly
from vbauth.api.gates import dependants_of, gate_names
from vbauth.limits.policy import client_tier

ERROR_ENVELOPE = {
    "type": "object",
    "required": ["error"],
    "properties": {
        "error": {
            "type": "object",
            "required": ["status", "reason", "message", "request_id"],
            "properties": {
                "status": {
                    "type": "string",
                    "description": "The canonical status of the HTTP code.",
                    "examples": ["UNAUTHENTICATED"],
                },
                "reason": {
                    "type": "string",
                    "description": "What went wrong, as a stable upper-case code.",
                    "examples": ["INVALID_CREDENTIALS"],
                },
                "message": {"type": "string", "description": "The same, for people."},
                "request_id": {
                    "type": "string",
                    "description": "Also in the X-Request-Id header; quote it in reports.",
                    "examples": ["req_KFAPLDMAGDOIOPJGCLHFLHBNLA"],
                },
                "details": {
                    "type": "array",
                    "description": "Per-field problems of an invalid body.",
                    "items": {
                        "type": "object",
                        "properties": {"field": {"type": "string"}, "problem": {"type": "string"}},
                    },
                },
            },
        }
    },
}

# Each status's shared answer, with the reasons a client may meet.
ERROR_ANSWERS: dict[int, tuple[str, str]] = {
    400: ("BadRequest", "Invalid input: INVALID_JSON_BODY, INVALID_ARGUMENT, INVALID_ID, ..."),
    401: (
        "Unauthenticated",
        "No credential, or one that is malformed, unknown, expired or revoked.",
    ),
    403: (
        "PermissionDenied",
        "The caller lacks the permission (PERMISSION_DENIED, DIRECT_ACCESS_NOT_SUPPORTED, "
        "AGENT_AUTH_REQUIRED, ACCOUNT_FROZEN, CROSS_SITE_REQUEST, ...).",
    ),
    404: ("NotFound", "No such object, or one of another customer (never told apart)."),
    409: ("Conflict", "The object exists already, or is not in a state that allows this."),
    413: ("TooLarge", "The request body is over VBAUTH_MAX_BODY_BYTES."),
    422: ("Unprocessable", "Well-formed but unusable values (VoIPBIN's code here)."),
    426: ("UpgradeRequired", "This path speaks WebSocket; send an Upgrade request."),
    429: ("TooManyRequests", "A rate tier is exhausted; retry after Retry-After seconds."),
    502: ("BadGateway", "The upstream could not be reached or answered badly."),
    503: (
        "Unavailable",
        "Busy (too many password checks) or a dependency is down; retry after Retry-After.",
    ),
    504: ("GatewayTimeout", "The upstream did not answer in time."),
}

SECURITY_SCHEMES = {
    "bearer": {
        "type": "http",
        "scheme": "bearer",
        "description": "A login, direct or delegate token (JWT), or an accesskey (vb_...).",
    },
    "tokenQuery": {"type": "apiKey", "in": "query", "name": "token"},
    "tokenCookie": {"type": "apiKey", "in": "cookie", "name": "token"},
    "accesskeyQuery": {"type": "apiKey", "in": "query", "name": "accesskey"},
    "accesskeyCookie": {"type": "apiKey", "in": "cookie", "name": "accesskey"},
    "eventsSecret": {
        "type": "http",
        "scheme": "bearer",
        "description": "The events secret shared with upstream services (internal only).",
    },
}
CALLER: list[dict[str, list[str]]] = [
    {name: []} for name in SECURITY_SCHEMES if name != "eventsSecret"
]

# Answered without a database: no 503 to document.
same_site_check = SameSiteOnly.dependency

NO_DATABASE = frozenset({"/ping", "/health/live", "/.well-known/jwks.json"})

# VoIPBIN's own operation ids, kept for clients generated from its document.
VOIPBIN_OPERATION_IDS = {
    "boot": "postAuthBoot",
    "password_forgot": "postAuthPasswordForgot",
    "password_reset_page": "getAuthPasswordReset",
    "password_reset": "postAuthPasswordReset",
}

DESCRIPTION = """\
vbauth authenticates callers of a multi-tenant API, wire-compatible with VoIPBIN's.

**Credentials.** A JWT from `POST /auth/login` (7 days), `POST /auth/boot` (4 hours, one
resource) or `POST /auth/delegate`, or an accesskey (`vb_...`). Send it as
`Authorization: Bearer`, `?token=` / `?accesskey=`, or the `token` / `accesskey` cookie; the
first present is the one judged, in the order cookie, query, header for tokens, then the
accesskey's cookie and query. Public keys of the token signatures: `/.well-known/jwks.json`.

**Errors** are always `{"error": {"status", "reason", "message", "request_id", "details?"}}`.
A request without a good credential hears 401 before anything about its body. Besides the
codes listed per operation, any path answers 405 (with `Allow`) to a method it does not take,
408 to a body that stops arriving, and 431 to oversized headers.

**Events.** `GET /v1.0/ws` upgrades to a WebSocket: send
`{"type": "subscribe", "topics": ["customer_id:<id>:<resource_type>:<resource_id>"]}` and
receive `{"type": ..., "data": ...}` for each event your identity may see (`docs/events.md`).

**Fronting.** Every other `/v1.0/...` path is forwarded to the upstream its route policy names,
with signed identity headers; `/auth/verify` answers the same decision to an existing proxy.
"""


def errors(*codes: int) -> dict[int | str, dict[str, Any]]:
    """A route's ``responses=`` for errors its service may answer beyond the derived ones."""
    return {code: {"description": ERROR_ANSWERS[code][1]} for code in codes}


def operation_id(route: APIRoute) -> str:
    head, *rest = route.name.split("_")
    return VOIPBIN_OPERATION_IDS.get(route.name) or head + "".join(w.title() for w in rest)


def document(app: FastAPI) -> dict[str, Any]:
    """The complete document (cached on the app, as FastAPI does)."""
    if app.openapi_schema:
        return app.openapi_schema
    doc = get_openapi(
        title="vbauth",
        version=__version__,
        description=DESCRIPTION,
        routes=app.routes,
        tags=TAGS,
    )
    components = doc.setdefault("components", {})
    schemas = components.setdefault("schemas", {})
    for unused in ("HTTPValidationError", "ValidationError"):  # vbauth never answers them
        schemas.pop(unused, None)
    schemas["Error"] = ERROR_ENVELOPE
    components["securitySchemes"] = SECURITY_SCHEMES
    components["responses"] = {
        name: _error_answer(code) for code, (name, _) in ERROR_ANSWERS.items()
    }
    for route in app.routes:
        if isinstance(route, APIRoute) and route.include_in_schema:
            for method in route.methods or ():
                _complete(doc["paths"][route.path_format][method.lower()], route)
    doc["paths"].update(FRONT_PATHS)
    app.openapi_schema = doc
    return doc


def _error_answer(code: int) -> dict[str, Any]:
    answer: dict[str, Any] = {
        "description": ERROR_ANSWERS[code][1],
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
    }
    if code in (429, 503):
        answer["headers"] = {"Retry-After": {"schema": {"type": "integer"}}}
    if code == 401:
        answer["headers"] = {"WWW-Authenticate": {"schema": {"type": "string"}}}
    return answer


def _complete(operation: dict[str, Any], route: APIRoute) -> None:
    operation["operationId"] = operation_id(route)
    gates = gate_names(route.dependant)
    dependants = list(dependants_of(route.dependant))
    path_params = any(d.path_params for d in dependants)
    has_input = path_params or any(d.query_params for d in dependants) or bool(route.body_field)
    codes = {int(code) for code in route.responses}
    if has_input:
        codes.add(400)
    if "events" in gates:
        operation["security"] = [{"eventsSecret": []}]
    elif gates:
        operation["security"] = CALLER
    else:
        operation["security"] = []  # public: no credential is read
    if gates:
        codes |= {401, 403}
    if any(d.call is same_site_check for d in dependants):
        codes.add(403)
    if path_params:
        codes.add(404)
    if route.body_field is not None:
        codes.add(413)
    if client_tier(route.path) is not None:
        codes.add(429)
    if route.path not in NO_DATABASE:
        codes.add(503)
    responses = operation["responses"]
    responses.pop("422", None)
    for code in sorted(code for code in codes if isinstance(code, int) and code >= 400):
        responses[str(code)] = {"$ref": f"#/components/responses/{ERROR_ANSWERS[code][0]}"}


TAGS = [
    {"name": "auth", "description": "Login, logout, delegation and account closing."},
    {"name": "account", "description": "Signup, email verification and password reset."},
    {"name": "me", "description": "The calling agent, and its login sessions."},
    {"name": "agents", "description": "A customer's agents and their permission bits."},
    {"name": "accesskeys", "description": "Long-lived API keys, shown once, stored hashed."},
    {"name": "directs", "description": "Direct hashes and the 4-hour tokens they boot."},
    {"name": "customers", "description": "The caller's customer, and all of them for superadmins."},
    {"name": "events", "description": "The WebSocket event feed (see the description above)."},
    {
        "name": "internal",
        "description": "For upstream services only, with the events secret; not for API clients.",
    },
    {"name": "gateway", "description": "Forwarding to upstream services, and forward-auth."},
]

_IDENTITY_HEADERS = {
    "X-VB-Identity": {
        "description": "The caller's identity, a short JWT signed with the keys of the JWKS.",
        "schema": {"type": "string"},
    }
}

FRONT_PATHS: dict[str, Any] = {
    "/auth/verify": {
        "get": {
            "tags": ["gateway"],
            "operationId": "verifyRequest",
            "summary": "Forward-auth for an existing proxy",
            "description": (
                "Judges the original request the proxy names (X-Original-URI for nginx, "
                "X-Forwarded-Uri for Traefik, or the path after /auth/verify for Envoy) by its "
                "route policy: 200 with the identity headers, or the error envelope. Any method "
                "is accepted (the proxy's choice)."
            ),
            "security": CALLER,
            "responses": {
                "200": {"description": "Allowed.", "headers": _IDENTITY_HEADERS},
                **{
                    str(code): {"$ref": f"#/components/responses/{ERROR_ANSWERS[code][0]}"}
                    for code in (400, 401, 403, 404, 429, 503)
                },
            },
        }
    },
}
