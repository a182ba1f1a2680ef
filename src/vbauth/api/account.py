"""``/auth/*`` self-service: signup, email verification, password recovery."""

from __future__ import annotations

import asyncio
import time
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Response
from fastapi.responses import HTMLResponse

from vbauth.api.deps import RuntimeDep, SessionDep, client_ip
from vbauth.api.openapi import errors
from vbauth.api.pages import page
from vbauth.schemas import (
    AccesskeyCreated,
    CustomerOut,
    EmailVerifyIn,
    EmailVerifyOut,
    PasswordForgotIn,
    PasswordResetIn,
    SignupDetailsOut,
    SignupIn,
    SignupOut,
)
from vbauth.security.one_time import well_formed
from vbauth.services import accounts
from vbauth.services.errors import InvalidArgument

router = APIRouter(prefix="/auth", tags=["account"])

LinkToken = Annotated[str, Query(max_length=128)]


@router.post("/signup", response_model=SignupOut | dict[str, Any])
async def signup(
    body: SignupIn,
    request: Request,
    response: Response,
    session: SessionDep,
    runtime: RuntimeDep,
) -> SignupOut | dict[str, Any]:
    """Create an unverified customer with a ready accesskey; ``{}`` if the email is taken."""
    if not body.accepted_tos:
        raise InvalidArgument("You must accept the terms of service.")
    fields = body.model_dump(exclude={"email", "accepted_tos"})
    result = await accounts.signup(
        session,
        passwords=runtime.passwords,
        public_url=runtime.settings.public_url,
        email=body.email,
        client_ip=client_ip(request, runtime.trusted_networks),
        fields=fields,
    )
    response.headers["Cache-Control"] = "no-store"
    if result is None:
        return {}
    return SignupOut(
        customer=CustomerOut.model_validate(result.customer),
        accesskey=AccesskeyCreated.of(result.accesskey, result.token),
    )


@router.get("/email-verify", response_class=HTMLResponse)
async def email_verify_page(token: LinkToken) -> HTMLResponse:
    """The page a verification link opens; its button posts the token back."""
    _require_link_token(token)
    return page(title="Verify your email", name="email_verify")


@router.get("/email-verify/details")
async def email_verify_details(
    token: LinkToken, session: SessionDep
) -> SignupDetailsOut | dict[str, Any]:
    """For the verification page: when and from where the signup was made, and its keys' prefixes
    (``{}`` for a link that verifies a new address of an existing customer)."""
    _require_link_token(token)
    details = await accounts.signup_details(session, token=token)
    if details is None:
        return {}
    return SignupDetailsOut(
        signed_up=details.signed_up, from_ip=details.from_ip, keys=details.key_prefixes
    )


@router.post("/email-verify", responses=errors(409))
async def email_verify(
    body: EmailVerifyIn, session: SessionDep, runtime: RuntimeDep
) -> EmailVerifyOut:
    """Use a verification token: the customer becomes active and gets a set-password link.

    The keys a signup handed out stop at verification unless ``keep_signup_key`` is true.
    """
    customer = await accounts.verify_email(
        session,
        public_url=runtime.settings.public_url,
        token=body.token,
        keep_signup_keys=body.keep_signup_key,
    )
    return EmailVerifyOut(customer=CustomerOut.model_validate(customer))


# What a password-forgot answer takes at least, whatever happened: a known username costs a
# token, a mail in the outbox and a commit, an unknown one nothing, and the difference would
# tell which usernames exist.
FORGOT_FLOOR_SECONDS = 0.25


@router.post("/password-forgot")
async def password_forgot(body: PasswordForgotIn, runtime: RuntimeDep) -> dict[str, Any]:
    """Mail a reset link if the username exists. Always ``{}``, so it reveals nothing."""
    started = time.monotonic()
    async with runtime.transaction() as session:  # committed inside the padded time
        await accounts.forgot_password(
            session, public_url=runtime.settings.public_url, username=body.username
        )
    await asyncio.sleep(max(0.0, FORGOT_FLOOR_SECONDS - (time.monotonic() - started)))
    return {}


@router.get("/password-reset", response_class=HTMLResponse)
async def password_reset_page(token: LinkToken) -> HTMLResponse:
    """The page a reset link opens: a new-password form."""
    _require_link_token(token)
    return page(title="Choose a new password", name="password_reset")


@router.post("/password-reset")
async def password_reset(
    body: PasswordResetIn, session: SessionDep, runtime: RuntimeDep
) -> dict[str, Any]:
    """Use a reset token to set a password (8 to 1024 characters); all sessions end."""
    await accounts.reset_password(
        session, passwords=runtime.passwords, token=body.token, password=body.password
    )
    return {}


def _require_link_token(token: str) -> None:
    if not well_formed(token):
        raise InvalidArgument("The link is invalid.", reason="INVALID_TOKEN")
