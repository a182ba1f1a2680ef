"""Dependencies: the runtime, one transaction per request, and the caller's identity."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Mapping
from typing import Annotated
from urllib.parse import urlsplit

from fastapi import Depends, Path, Request
from pydantic import AfterValidator
from sqlalchemy.ext.asyncio import AsyncSession

from vbauth import metrics
from vbauth.api.client import scope_client
from vbauth.api.gates import authenticator
from vbauth.authn import Credential, find_credential, refuse_frozen
from vbauth.identity import (
    AgentIdentity,
    CustomerIdentity,
    DelegateIdentity,
    DirectIdentity,
    Identity,
)
from vbauth.runtime import Runtime
from vbauth.services import audit
from vbauth.services.errors import AuthenticationRequired, PermissionDenied, ServiceError
from vbauth.settings import Network

READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
API_PATH = "/v1.0/"  # where the customer rate tiers apply


# Dependencies are async even when they do not await: FastAPI runs a plain ``def`` dependency
# in a worker thread, a hop that costs more than everything else a cheap request does.
async def get_runtime(request: Request) -> Runtime:
    runtime: Runtime = request.app.state.runtime
    return runtime


RuntimeDep = Annotated[Runtime, Depends(get_runtime)]


async def _session(request: Request, runtime: RuntimeDep) -> AsyncIterator[AsyncSession]:
    write = request.method not in READ_METHODS
    async with runtime.transaction(write=write) as session:
        yield session
        # Reached only when the route succeeded: a delegate's write is recorded with it.
        identity = getattr(request.state, "identity", None)
        if write and isinstance(identity, DelegateIdentity):
            audit.record(
                session,
                "delegate_request",
                customer_id=identity.customer_id,
                by=identity,
                details={"method": request.method, "path": request.url.path},
            )


# scope="function": the commit happens before the response is sent, so a client never sees
# success for a transaction that then failed to commit.
SessionDep = Annotated[AsyncSession, Depends(_session, scope="function")]


async def authenticate(
    request: Request, runtime: Runtime, *, allow_frozen: bool = False
) -> Identity:
    """The caller's identity from the request's credential (any kind), or a 401/403 error."""
    identity = await identify(
        runtime, request.headers, request.cookies, request.query_params, allow_frozen=allow_frozen
    )
    request.state.identity = identity
    return identity


async def identify(
    runtime: Runtime,
    headers: Mapping[str, str],
    cookies: Mapping[str, str],
    query: Mapping[str, str],
    *,
    allow_frozen: bool = False,
    counted: bool = True,
) -> Identity:
    """The one decision every entry point shares: credential, identity, frozen check."""
    credential = find_credential(headers, cookies, query)
    if credential is None:
        if counted:
            metrics.authentication("none", AuthenticationRequired.reason)
        raise AuthenticationRequired()
    return await identify_credential(
        runtime, credential, allow_frozen=allow_frozen, counted=counted
    )


async def identify_credential(
    runtime: Runtime, credential: Credential, *, allow_frozen: bool = False, counted: bool = True
) -> Identity:
    """``allow_frozen``: only for unregistering and its undoing (reference §5.5).

    ``counted=False``: a tentative decision (the cached reads') that the caller counts itself,
    so that a request judged twice is counted once.
    """
    try:
        identity = await runtime.authenticator.authenticate(credential)
        if not allow_frozen:
            refuse_frozen(identity)
    except ServiceError as refused:
        if counted:
            metrics.authentication(credential.kind, refused.reason)
        raise
    if counted:
        metrics.authentication(identity.kind, "ok")
    return identity


async def _counted_caller(request: Request) -> Identity:
    """The caller, counted against its customer's rate tier on /v1.0 routes."""
    runtime: Runtime = request.app.state.runtime
    identity = await authenticate(request, runtime)
    if request.scope["path"].startswith(API_PATH):  # not /auth/logout: VoIPBIN's rule
        await runtime.limits.check_customer(identity, request.scope["state"])
    return identity


@authenticator("caller")
async def _customer_identity(request: Request) -> CustomerIdentity:
    """vbauth's own endpoints serve agents and accesskeys; a direct token is refused here."""
    identity = await _counted_caller(request)
    if isinstance(identity, DirectIdentity):
        raise PermissionDenied(
            "Direct tokens cannot use this endpoint.", reason="DIRECT_ACCESS_NOT_SUPPORTED"
        )
    return identity


CurrentIdentity = Annotated[CustomerIdentity, Depends(_customer_identity)]


@authenticator("caller")
async def _unregistering_identity(request: Request) -> CustomerIdentity:
    """A customer's own credential, frozen or not: recovery must stay within reach."""
    identity = await authenticate(request, request.app.state.runtime, allow_frozen=True)
    if isinstance(identity, DirectIdentity):
        raise PermissionDenied(
            "Direct tokens cannot use this endpoint.", reason="DIRECT_ACCESS_NOT_SUPPORTED"
        )
    return identity


UnregisteringIdentity = Annotated[CustomerIdentity, Depends(_unregistering_identity)]


@authenticator("caller")
async def _agent(request: Request) -> AgentIdentity:
    # Not a sub-dependency of CurrentIdentity: each level of FastAPI's solving costs as much as
    # the authentication itself.
    identity = await _counted_caller(request)  # a direct token too: VoIPBIN's reason
    if not isinstance(identity, AgentIdentity):
        raise PermissionDenied(
            "This endpoint requires agent authentication.", reason="AGENT_AUTH_REQUIRED"
        )
    return identity


CurrentAgent = Annotated[AgentIdentity, Depends(_agent)]


def _not_nil(value: uuid.UUID) -> uuid.UUID:
    if value.int == 0:
        raise ValueError("the nil UUID is not an id")
    return value


ResourceId = Annotated[uuid.UUID, Path(), AfterValidator(_not_nil)]


def client_ip(request: Request, networks: list[Network]) -> str:
    """The caller's address (``api/client.py``): X-Forwarded-For only from a trusted proxy."""
    return scope_client(request.scope, networks)


def public_origin(public_url: str) -> str:
    """The origin (scheme://host[:port]) of vbauth's public URL: its own pages' Origin, even
    behind a proxy that sends another Host."""
    parts = urlsplit(public_url)
    return f"{parts.scheme}://{parts.netloc}"


def origin_allowed(headers: Mapping[str, str], allowed: list[str]) -> bool:
    """Browsers send Origin: vbauth's own host, or one of ``allowed``. Scripts send none."""
    origin = headers.get("origin")
    if origin is None or origin in allowed:
        return True
    try:
        netloc = urlsplit(origin).netloc
    except ValueError:
        return False  # not even a URL: certainly not ours
    return bool(netloc) and netloc == headers.get("host")


async def _same_site(request: Request) -> None:
    """Refuse a browser's cross-site request to an endpoint that sets or uses the cookie.

    Bodies are read as JSON whatever their Content-Type (as VoIPBIN), so a plain HTML form on
    any site could post a login and sign the victim's browser in as the attacker (login CSRF).
    A configured CORS origin may; otherwise an Origin must be vbauth's own, and a browser that
    says ``Sec-Fetch-Site: cross-site`` is refused even without one.
    """
    settings = request.app.state.runtime.settings
    allowed = [*settings.cors_origins, public_origin(settings.public_url)]
    cross_site = request.headers.get("sec-fetch-site") == "cross-site"
    if "origin" in request.headers:
        if origin_allowed(request.headers, allowed):
            return
    elif not cross_site:
        return
    raise PermissionDenied(
        "Cross-site requests may not sign in or out.", reason="CROSS_SITE_REQUEST"
    )


SameSiteOnly = Depends(_same_site)
