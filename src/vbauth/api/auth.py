"""``/auth/*``: login and logout."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response

from vbauth.api.deps import (
    CurrentAgent,
    CurrentIdentity,
    RuntimeDep,
    SameSiteOnly,
    SessionDep,
    client_ip,
)
from vbauth.api.openapi import errors
from vbauth.clock import format_timestamp
from vbauth.schemas import DelegateIn, DelegateOut, LoginIn, LoginOut
from vbauth.services import audit, delegation, logins

router = APIRouter(prefix="/auth", tags=["auth"])

TOKEN_COOKIE = "token"


@router.post("/login", dependencies=[SameSiteOnly], responses=errors(401))
async def login(
    body: LoginIn, request: Request, response: Response, runtime: RuntimeDep
) -> LoginOut:
    """Exchange a username and password for a login token (also set as the ``token`` cookie)."""
    settings = runtime.settings
    result = await logins.login(
        runtime.reads,
        runtime.transaction,
        passwords=runtime.passwords,
        keys=runtime.keys,
        username=body.username,
        password=body.password,
        ttl=settings.token_ttl_login,
        client_ip=client_ip(request, runtime.trusted_networks),
        user_agent=request.headers.get("user-agent", ""),
        throttle=runtime.login_throttle,
    )
    response.set_cookie(
        TOKEN_COOKIE,
        result.token.token,
        max_age=settings.token_ttl_login,
        path="/",
        secure=settings.cookie_secure,
        httponly=True,
        samesite="strict",
    )
    response.headers["Cache-Control"] = "no-store"
    return LoginOut(username=body.username, token=result.token.token)


@router.post("/logout", dependencies=[SameSiteOnly])
async def logout(
    me: CurrentAgent, response: Response, session: SessionDep, runtime: RuntimeDep
) -> dict[str, str]:
    """End the caller's login session: its token stops working everywhere at once."""
    await logins.logout(session, by=me)
    response.delete_cookie(
        TOKEN_COOKIE,
        path="/",
        secure=runtime.settings.cookie_secure,
        httponly=True,
        samesite="strict",
    )
    return {}


@router.post("/delegate", responses=errors(404, 422))
async def delegate(body: DelegateIn, me: CurrentIdentity, runtime: RuntimeDep) -> DelegateOut:
    """A superadmin's token to act as an admin of one customer for 8 hours, with a reason.

    The customer's admins see it in their audit log, and every write made with it.
    """
    try:
        async with runtime.transaction() as session:
            delegated = await delegation.delegate(
                session,
                by=me,
                keys=runtime.keys,
                ttl=runtime.settings.token_ttl_delegate,
                customer_id=body.customer_id,
                reason=body.reason,
            )
    except delegation.Denied as denied:
        # After the request's transaction ended: on SQLite a second writer would wait for it.
        # Once a minute per caller and target: refusals cost the caller nothing.
        key = ("delegate_token_denied", me.customer_id, denied.customer_id, denied.denial_reason)
        if not audit.first_in_a_while(key):
            raise denied.error from None
        await audit.record_alone(
            runtime.transaction,
            "delegate_token_denied",
            customer_id=denied.customer_id,
            by=me,
            details={"denial_reason": denied.denial_reason},
        )
        raise denied.error from None
    return DelegateOut(
        token=delegated.token.token,
        customer_id=delegated.delegation.customer_id,
        expire=format_timestamp(delegated.token.expires_at),
    )
