"""Signing in and out of the console, and what every signed-in page shares.

Each page is a plain Starlette endpoint wrapped by ``signed_in``: it finds the agent behind the
console cookie the way the API finds any login token (so a session ended anywhere ends here
too), checks a form's origin and CSRF token, and turns a refusal into a page that says it as
a sentence. The pages then call the same services the API calls, with the same identity:
the console can do exactly what the API lets that agent do, no more.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass, field
from typing import Any, TypeVar
from urllib.parse import urlencode

from sqlalchemy.ext.asyncio import AsyncSession
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from vbauth.admin.forms import Form, FormProblem, read_form
from vbauth.admin.protection import (
    COOKIE_PATH,
    NOTICE_COOKIE,
    NOTICE_SECONDS,
    SESSION_COOKIE,
    SIGNIN_COOKIE,
    new_signin_nonce,
)
from vbauth.admin.render import page
from vbauth.api.client import scope_client
from vbauth.api.deps import identify_credential, origin_allowed, public_origin
from vbauth.api.errors import SERVICE_ERROR_STATUS, request_id_of
from vbauth.authn import Credential
from vbauth.identity import AgentIdentity
from vbauth.permissions import ADMIN_OR_MANAGER, CUSTOMER_ADMIN_BIT
from vbauth.runtime import Runtime
from vbauth.security.passwords import HashingBusy
from vbauth.services import agents, logins
from vbauth.services.errors import InvalidCredentials, ServiceError, TooManyRequests

log = logging.getLogger("vbauth.console")
Result = TypeVar("Result")
Refusal = (ServiceError, FormProblem, HashingBusy)

# A few refusals said the console's way; the rest keep the services' own sentences.
SENTENCES = {
    "FRESH_LOGIN_REQUIRED": (
        "For your safety this needs a recent sign-in: sign out, sign in again, and do it "
        "within ten minutes (or give your current password where the form asks for it)."
    ),
    "INVALID_CURRENT_PASSWORD": "The current password is not right.",
    "DELEGATE_NOT_ALLOWED": "A delegated session cannot do this.",
}


@dataclass(frozen=True, slots=True)
class NavLink:
    label: str
    path: str


def nav_for(me: AgentIdentity) -> list[NavLink]:
    """The pages this agent may use, in the order people look for them (the services still
    decide every action: a page left out here would refuse anyway)."""
    admin = me.can_access(me.customer_id, CUSTOMER_ADMIN_BIT)
    manager = me.can_access(me.customer_id, ADMIN_OR_MANAGER)
    links = [
        NavLink("Access keys", "/admin/accesskeys") if admin else None,
        NavLink("Agents", "/admin/agents") if manager else None,
        NavLink("Directs", "/admin/directs") if manager else None,
        NavLink("Sessions", "/admin/sessions"),
        NavLink("Audit log", "/admin/audit") if admin else None,
        NavLink("Customers", "/admin/customers") if me.is_superadmin else None,
        NavLink("Account", "/admin/account"),
    ]
    return [link for link in links if link is not None]


def explain(error: BaseException) -> tuple[int, str]:
    """The HTTP status and the sentence for a refusal."""
    if isinstance(error, FormProblem):
        return error.status, error.message
    if isinstance(error, HashingBusy):
        return 503, "The service is busy checking passwords; try again in a moment."
    if isinstance(error, TooManyRequests):
        return 429, f"Too many attempts; try again in {error.retry_after} seconds."
    if isinstance(error, ServiceError):
        status = next(
            (code for cls, (code, _) in SERVICE_ERROR_STATUS.items() if isinstance(error, cls)),
            400,
        )
        return status, SENTENCES.get(error.reason, error.message)
    raise error


@dataclass(frozen=True, slots=True)
class Notice:
    """What the page after a form says once: a sentence, and a new access key when one was made."""

    text: str = ""
    new_key: dict[str, str] | None = None

    @classmethod
    def of(cls, opened: dict[str, Any] | None) -> Notice | None:
        if not opened:
            return None
        new_key = opened.get("new_key")
        return cls(str(opened.get("text", "")), new_key if isinstance(new_key, dict) else None)


@dataclass
class Console:
    """One signed-in request: who, the form it sent, and how to answer it."""

    request: Request
    runtime: Runtime
    me: AgentIdentity
    form: Form = field(default_factory=lambda: Form([]))
    notice: Notice | None = None

    @property
    def csrf(self) -> str:
        return self.runtime.console.csrf_token(str(self.me.session_id))

    async def read(self, action: Callable[[AsyncSession], Awaitable[Result]]) -> Result:
        async with self.runtime.transaction(write=False) as session:
            return await action(session)

    async def write(self, action: Callable[[AsyncSession], Awaitable[Result]]) -> Result:
        """One transaction: all of the action, or (on a refusal) none of it."""
        async with self.runtime.transaction() as session:
            return await action(session)

    def render(self, template: str, status: int = 200, **context: Any) -> Response:
        response = page(
            template,
            status,
            signed_in=self.me,
            nav=nav_for(self.me),
            here=self.request.url.path,
            csrf=self.csrf,
            notice=self.notice,
            **context,
        )
        if self.notice is not None:  # shown once: the next page will not have it
            _forget(response, NOTICE_COOKIE, self.runtime)
        return response

    def refused(self, error: BaseException) -> Response:
        status, message = explain(error)
        return self.render("problem.html", status, message=message)

    def redirect(self, path: str, notice: Notice | None = None) -> Response:
        """303 to a page, with a one-time notice for it (sealed to this login session)."""
        response = RedirectResponse(path, status_code=303)
        if notice is not None:
            sealed = self.runtime.console.seal_notice(str(self.me.session_id), asdict(notice))
            _remember(response, NOTICE_COOKIE, sealed, self.runtime, max_age=NOTICE_SECONDS)
        return response


Page = Callable[[Console], Awaitable[Response]]


def signed_in(view: Page) -> Callable[[Request], Awaitable[Response]]:
    """A console page: the sign-in page instead for anyone not signed in, and forms checked."""

    async def endpoint(request: Request) -> Response:
        runtime: Runtime = request.app.state.runtime
        me = await _console_agent(runtime, request)
        if me is None:
            ended = SESSION_COOKIE in request.cookies
            response = RedirectResponse(
                "/admin/signin" + ("?" + urlencode({"ended": 1}) if ended else ""), 303
            )
            if ended:
                _forget(response, SESSION_COOKIE, runtime)
            return response
        console = Console(request, runtime, me)
        if sealed := request.cookies.get(NOTICE_COOKIE):
            console.notice = Notice.of(runtime.console.open_notice(str(me.session_id), sealed))
            if console.notice is None:  # not ours, or not for this session: forget it anyway
                console.notice = Notice()
        if request.method == "POST":
            try:
                console.form = await _checked_form(request, runtime, str(me.session_id))
            except FormProblem as problem:
                return console.refused(problem)
        try:
            return await view(console)
        except Refusal as error:
            return console.refused(error)
        except Exception:  # a fault of ours: a page that says so, the trace to the log only
            request_id = request_id_of(request)
            log.exception("unhandled error in console request %s", request_id)
            message = f"Something went wrong on our side (request {request_id}); try again."
            return page("problem.html", 500, message=message)

    return endpoint


async def _console_agent(runtime: Runtime, request: Request) -> AgentIdentity | None:
    """The agent whose login token the console cookie holds, or None (sign in again).

    Only a login token of a live session will do: not an accesskey, a direct token or a
    delegation, whatever was put in the cookie; a frozen customer's agents are shown the
    sign-in page too (its refusal is the sign-in form's to word).
    """
    value = request.cookies.get(SESSION_COOKIE)
    if not value:
        return None
    try:
        identity = await identify_credential(runtime, Credential("token", value, "cookie"))
    except ServiceError:
        return None
    return identity if isinstance(identity, AgentIdentity) else None


async def _checked_form(request: Request, runtime: Runtime, bound_to: str) -> Form:
    """A form sent from the console itself: same origin, and its CSRF token for this session."""
    if not same_origin(request, runtime):
        raise FormProblem("This form was sent from another site; it was not acted on.", 403)
    form = await read_form(request)
    if not runtime.console.csrf_matches(bound_to, form.get("csrf")):
        raise FormProblem("This form has expired; reload the page and try again.", 403)
    return form


def same_origin(request: Request, runtime: Runtime) -> bool:
    """Browsers say where a form came from; only vbauth's own pages may post the console's.

    Unlike the API, no CORS origin may: the console has no business with other sites.
    """
    if request.headers.get("sec-fetch-site", "same-origin") not in ("same-origin", "none"):
        return False
    allowed = [public_origin(runtime.settings.public_url)]
    return "origin" not in request.headers or origin_allowed(request.headers, allowed)


def _remember(
    response: Response, name: str, value: str, runtime: Runtime, *, max_age: int | None = None
) -> None:
    response.set_cookie(
        name,
        value,
        max_age=max_age,
        path=COOKIE_PATH,
        secure=runtime.settings.cookie_secure,
        httponly=True,
        samesite="strict",
    )


def _forget(response: Response, name: str, runtime: Runtime) -> None:
    response.delete_cookie(
        name,
        path=COOKIE_PATH,
        secure=runtime.settings.cookie_secure,
        httponly=True,
        samesite="strict",
    )


# Sign-in and sign-out ------------------------------------------------------------------------

SIGNIN_MESSAGES = {
    "ended": "Your session has ended. Sign in again.",
    "signed_out": "You are signed out.",
}


async def home(request: Request) -> Response:
    """``/admin``: the first page the agent may use, or the sign-in page."""
    runtime: Runtime = request.app.state.runtime
    me = await _console_agent(runtime, request)
    if me is None:
        return RedirectResponse("/admin/signin", 303)
    return RedirectResponse(nav_for(me)[0].path, 303)


async def signin_page(request: Request) -> Response:
    runtime: Runtime = request.app.state.runtime
    if await _console_agent(runtime, request) is not None:
        return RedirectResponse("/admin", 303)
    message = next(
        (text for key, text in SIGNIN_MESSAGES.items() if key in request.query_params), ""
    )
    return _signin_form(request, runtime, notice=Notice(message) if message else None)


def _signin_form(
    request: Request,
    runtime: Runtime,
    *,
    status: int = 200,
    error: str = "",
    notice: Notice | None = None,
    username: str = "",
) -> Response:
    """The form, bound to a random cookie of this browser (login CSRF: nobody else's form can
    sign this browser in as them)."""
    nonce = request.cookies.get(SIGNIN_COOKIE) or new_signin_nonce()
    response = page(
        "signin.html",
        status,
        signed_in=None,
        csrf=runtime.console.csrf_token("signin:" + nonce),
        error=error,
        notice=notice,
        username=username,
    )
    _remember(response, SIGNIN_COOKIE, nonce, runtime)
    return response


async def signin(request: Request) -> Response:
    runtime: Runtime = request.app.state.runtime
    nonce = request.cookies.get(SIGNIN_COOKIE, "")
    try:
        if not nonce:
            raise FormProblem("Your browser must accept cookies to sign in.", 400)
        form = await _checked_form(request, runtime, "signin:" + nonce)
    except FormProblem as problem:
        return _signin_form(request, runtime, status=problem.status, error=problem.message)
    username = form.get("username")
    try:
        result = await logins.login(
            runtime.reads,
            runtime.transaction,
            passwords=runtime.passwords,
            keys=runtime.keys,
            username=username,
            password=form.get("password"),
            ttl=runtime.settings.token_ttl_login,
            client_ip=scope_client(request.scope, runtime.trusted_networks),
            user_agent=request.headers.get("user-agent", ""),
            throttle=runtime.login_throttle,
        )
    except InvalidCredentials:
        return _signin_form(
            request,
            runtime,
            status=401,
            username=username,
            error="The username or password is not right.",
        )
    except Refusal as error:
        status, message = explain(error)
        return _signin_form(request, runtime, status=status, username=username, error=message)
    try:
        # Someone the console serves? A frozen customer's agents are not: the API lets their
        # logins reach recovery, and the console has no page for it. Their login ends here.
        await identify_credential(runtime, Credential("token", result.token.token, "cookie"))
    except ServiceError as error:
        async with runtime.transaction() as session:
            await agents.revoke_sessions(session, agent_id=result.agent.id, only=result.session.id)
        status, message = explain(error)
        return _signin_form(request, runtime, status=status, username=username, error=message)
    response = RedirectResponse("/admin", 303)
    _remember(
        response,
        SESSION_COOKIE,
        result.token.token,
        runtime,
        max_age=runtime.settings.token_ttl_login,
    )
    _forget(response, SIGNIN_COOKIE, runtime)
    return response


@signed_in
async def signout(console: Console) -> Response:
    """End this login session (everywhere: its token is the console's own) and forget it."""
    await console.write(lambda session: logins.logout(session, by=console.me))
    response = RedirectResponse("/admin/signin?signed_out=1", 303)
    _forget(response, SESSION_COOKIE, console.runtime)
    return response


async def missing(request: Request) -> Response:
    """Any other address under /admin: a page, not the API's JSON."""
    return page("missing.html", 404, signed_in=None)
