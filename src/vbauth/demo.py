"""The demo upstream: calls and aicalls, in memory, scoped by vbauth's forwarded identity.

It is what an upstream service behind vbauth looks like: it trusts nothing but the signed
``X-VB-Identity`` header, and scopes every object by the customer in it (and, for direct
tokens, by the resource). Nothing is dialled. ``vbauth demo-upstream`` serves it on its own;
``make run`` routes ``/v1.0/calls`` and ``/v1.0/aicalls`` to it in process.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Annotated, Any, Literal

from fastapi import Depends, FastAPI, Header, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field
from starlette.exceptions import HTTPException

from vbauth import clock
from vbauth.api.middleware import JsonBodyMiddleware
from vbauth.events.model import Event
from vbauth.gateway.identity_header import read_identity
from vbauth.gateway.remote_keys import RemoteKeys
from vbauth.security.tokens import InvalidToken, KeyRing

AddressType = Literal[
    "", "agent", "conference", "email", "extension", "line", "sip", "tel", "web_session"
]


class Address(BaseModel):
    model_config = ConfigDict(extra="ignore")
    type: AddressType = ""
    target: Annotated[str, Field(max_length=255)] = ""
    target_name: Annotated[str, Field(max_length=255)] = ""


class CallCreate(BaseModel):
    source: Address
    destinations: Annotated[list[Address], Field(min_length=1, max_length=100)]


class AicallCreate(BaseModel):
    assistance_type: Literal["ai", "ai_team"] | None = None
    assistance_id: uuid.UUID | None = None
    reference_type: Literal["", "call", "conversation", "task", "contact_case"] = ""
    reference_id: uuid.UUID | None = None


class DemoError(Exception):
    def __init__(self, status: int, reason: str, message: str) -> None:
        self.status, self.reason, self.message = status, reason, message


@dataclass
class Caller:
    kind: str
    customer_id: str
    resource_type: str | None = None
    resource_id: str | None = None


@dataclass
class Store:
    calls: dict[str, dict[str, Any]] = field(default_factory=dict)
    aicalls: dict[str, dict[str, Any]] = field(default_factory=dict)


async def caller(request: Request, x_vb_identity: Annotated[str, Header()] = "") -> Caller:
    """Who vbauth says is calling: the verified X-VB-Identity, and nothing else."""
    keys = request.app.state.keys
    if isinstance(keys, RemoteKeys):
        keys = await keys.ring_for(x_vb_identity)
    try:
        claims = read_identity(
            keys,
            x_vb_identity,
            audience=request.app.state.audience,
            method=request.method,
            # The path as it arrived, encoding and all: what vbauth checked and signed.
            path=request.scope.get("raw_path", b"").decode("latin-1") or request.url.path,
        )
    except InvalidToken as error:
        raise DemoError(401, "AUTHENTICATION_REQUIRED", "No valid identity header.") from error
    return Caller(
        claims["kind"],
        claims["customer_id"],
        claims.get("resource_type"),
        claims.get("resource_id"),
    )


CallerDep = Annotated[Caller, Depends(caller)]


async def _not_direct(me: CallerDep) -> Caller:
    """Calls are no widget's business: vbauth's route policy says so, and so does the upstream
    itself (defence in depth: a misconfigured proxy must not be the only check)."""
    if me.kind == "direct":
        raise DemoError(403, "DIRECT_ACCESS_NOT_SUPPORTED", "Direct tokens cannot use calls.")
    return me


StaffDep = Annotated[Caller, Depends(_not_direct)]


Publish = Callable[[Event], Awaitable[None]]


async def _publish_nowhere(event: Event) -> None:
    """A demo without a vbauth to tell."""


DEMO_AUDIENCE = "demo"  # the default routes' audience for it (gateway/routes.toml)


def create_demo_app(
    keys: KeyRing | RemoteKeys,
    publish: Publish = _publish_nowhere,
    *,
    audience: str = DEMO_AUDIENCE,
) -> FastAPI:
    """The demo upstream; ``publish`` carries its call and aicall events to vbauth's bus.

    It accepts only identity headers made for ``audience`` and for the very request it gets,
    verified with ``keys``: a shared secret's ring, or vbauth's JWKS (``RemoteKeys``).
    """
    app = FastAPI(title="vbauth demo upstream", docs_url=None, redoc_url=None)
    app.state.keys = keys
    app.state.audience = audience
    # Like VoIPBIN's services (and vbauth), it reads bodies as JSON whatever the Content-Type.
    app.add_middleware(JsonBodyMiddleware)
    store = Store()

    async def announce(verb: str, kind: str, item: dict[str, Any], me: Caller) -> None:
        bound = item.get("assistance_id") if kind == "aicall" else None
        await publish(
            Event(
                type=f"{kind}_{verb}",
                customer_id=uuid.UUID(me.customer_id),
                resource_type=kind,
                resource_id=item["id"],
                data=item,
                bound_to=uuid.UUID(bound) if bound else None,
            )
        )

    @app.get("/v1.0/calls")
    async def list_calls(
        me: StaffDep,
        page_size: Annotated[int, Query()] = 100,
        page_token: Annotated[str, Query()] = "",
    ) -> dict[str, Any]:
        return _page(_owned(store.calls, me), page_size, page_token)

    @app.post("/v1.0/calls")
    async def create_call(body: CallCreate, me: StaffDep) -> dict[str, Any]:
        calls = []
        for destination in body.destinations:
            call = _record(
                me,
                source=body.source.model_dump(),
                destination=destination.model_dump(),
                status="dialing",
                direction="outgoing",
                type="flow",
            )
            store.calls[call["id"]] = call
            calls.append(call)
            await announce("created", "call", call, me)
        return {"calls": calls, "groupcalls": []}

    @app.get("/v1.0/calls/{call_id}")
    async def get_call(call_id: str, me: StaffDep) -> dict[str, Any]:
        return _find(store.calls, call_id, me, "CALL_NOT_FOUND")

    @app.delete("/v1.0/calls/{call_id}")
    async def delete_call(call_id: str, me: StaffDep) -> dict[str, Any]:
        call = _find(store.calls, call_id, me, "CALL_NOT_FOUND")
        call["tm_delete"] = clock.format_timestamp(clock.now())
        del store.calls[call_id]
        await announce("deleted", "call", call, me)
        return call

    @app.post("/v1.0/aicalls")
    async def create_aicall(body: AicallCreate, me: CallerDep) -> dict[str, Any]:
        if me.kind == "direct":
            # A widget's token talks to its own AI, whatever the body says.
            assistance_type, assistance_id = me.resource_type, me.resource_id
        else:
            if body.assistance_type is None or body.assistance_id is None:
                raise DemoError(
                    400, "INVALID_ARGUMENT", "assistance_type and assistance_id are required."
                )
            assistance_type, assistance_id = body.assistance_type, str(body.assistance_id)
        aicall = _record(
            me,
            assistance_type=assistance_type,
            assistance_id=assistance_id,
            reference_type=body.reference_type,
            reference_id=str(body.reference_id or uuid.UUID(int=0)),
            status="initiating",
        )
        store.aicalls[aicall["id"]] = aicall
        await announce("created", "aicall", aicall, me)
        return aicall

    @app.get("/v1.0/aicalls")
    async def list_aicalls(
        me: CallerDep,
        page_size: Annotated[int, Query()] = 100,
        page_token: Annotated[str, Query()] = "",
    ) -> dict[str, Any]:
        return _page(_owned(store.aicalls, me), page_size, page_token)

    @app.get("/v1.0/aicalls/{aicall_id}")
    async def get_aicall(aicall_id: str, me: CallerDep) -> dict[str, Any]:
        return _find(store.aicalls, aicall_id, me, "AICALL_NOT_FOUND")

    @app.exception_handler(DemoError)
    async def demo_error(request: Request, error: DemoError) -> JSONResponse:
        return _envelope(request, error.status, error.reason, error.message)

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, error: RequestValidationError) -> JSONResponse:
        return _envelope(request, 400, "INVALID_ARGUMENT", "The request is invalid.")

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, error: HTTPException) -> JSONResponse:
        if error.status_code == 405:  # as vbauth answers it: the envelope and Allow
            response = _envelope(
                request, 405, "METHOD_NOT_ALLOWED", "The method is not allowed on this endpoint."
            )
            response.headers["Allow"] = ", ".join(sorted(_allowed(app, request.url.path)))
            return response
        return _envelope(
            request,
            error.status_code,
            "ROUTE_NOT_FOUND" if error.status_code == 404 else "INVALID_ARGUMENT",
            str(error.detail),
        )

    return app


def _record(me: Caller, **fields: Any) -> dict[str, Any]:
    now = clock.format_timestamp(clock.now())
    return {
        "id": str(uuid.uuid4()),
        "customer_id": me.customer_id,
        **fields,
        "tm_create": now,
        "tm_update": now,
        "tm_delete": None,
    }


def _same_customer(item: dict[str, Any], me: Caller) -> bool:
    return bool(item["customer_id"] == me.customer_id)


def _bound(item: dict[str, Any], me: Caller) -> bool:
    """A direct token sees only what is bound to its resource; others see the whole customer."""
    return me.kind != "direct" or item.get("assistance_id") == me.resource_id


def _visible(item: dict[str, Any], me: Caller) -> bool:
    return _same_customer(item, me) and _bound(item, me)


def _owned(items: dict[str, dict[str, Any]], me: Caller) -> list[dict[str, Any]]:
    mine = [item for item in items.values() if _visible(item, me)]
    return sorted(mine, key=lambda item: item["tm_create"], reverse=True)


def _find(
    items: dict[str, dict[str, Any]], item_id: str, me: Caller, reason: str
) -> dict[str, Any]:
    """Another customer's object is not found; another resource's, for a direct token, is 403."""
    item = items.get(item_id)
    if item is None or not _same_customer(item, me):
        raise DemoError(404, reason, "The requested resource was not found.")
    if not _bound(item, me):
        raise DemoError(
            403, "PERMISSION_DENIED", "You do not have permission to access this resource."
        )
    return item


def _page(items: list[dict[str, Any]], size: int, token: str) -> dict[str, Any]:
    size = size if 0 < size <= 100 else 100
    if token:
        items = [item for item in items if item["tm_create"] < token]
    result = items[:size]
    return {"result": result, "next_page_token": result[-1]["tm_create"] if result else ""}


def _allowed(app: FastAPI, path: str) -> set[str]:
    """The methods the app's routes serve at ``path``."""
    methods: set[str] = set()
    for route in app.router.routes:
        matches = getattr(route, "path_regex", None)
        if matches is not None and matches.fullmatch(path):
            methods |= set(getattr(route, "methods", None) or ())
    return methods - {"HEAD"} or {"GET"}


def _envelope(request: Request, status: int, reason: str, message: str) -> JSONResponse:
    statuses = {
        400: "INVALID_ARGUMENT",
        401: "UNAUTHENTICATED",
        403: "PERMISSION_DENIED",
        404: "NOT_FOUND",
        405: "INVALID_ARGUMENT",
    }
    request_id = request.headers.get("x-request-id", "")
    return JSONResponse(
        {
            "error": {
                "status": statuses.get(status, "INTERNAL"),
                "reason": reason,
                "message": message,
                "request_id": request_id,
            }
        },
        status_code=status,
    )
