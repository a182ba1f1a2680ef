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
from typing import Any, Literal, TypeVar
from urllib.parse import urlsplit

from sqlalchemy.ext.asyncio import AsyncSession
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from vbauth.admin.forms import Form, FormProblem, read_form
from vbauth.admin.protection import NOTICE_SECONDS, new_signin_nonce
from vbauth.admin.render import page
from vbauth.api.client import bucket_key, scope_client
from vbauth.api.deps import identify_credential, origin_allowed, public_origin
from vbauth.api.errors import SERVICE_ERROR_STATUS, request_id_of, unavailable
from vbauth.authn import Credential
from vbauth.db import database_unavailable
from vbauth.identity import AgentIdentity
from vbauth.permissions import ADMIN_OR_MANAGER, CUSTOMER_ADMIN_BIT
from vbauth.runtime import Runtime
from vbauth.security.passwords import HashingBusy
from vbauth.services import agents, logins
from vbauth.services.errors import (
    InvalidCredentials,
    NotFound,
    PermissionDenied,
    ServiceError,
    TooManyRequests,
)

log = logging.getLogger("vbauth.console")
Result = TypeVar("Result")
Refusal = (ServiceError, FormProblem, HashingBusy)

# A few refusals said the console's way; the rest keep the services' own sentences.
SENTENCES = {
    "FRESH_LOGIN_REQUIRED": "For your safety this needs a sign-in from the last ten minutes.",
    "INVALID_CURRENT_PASSWORD": "The current password is not right.",
    "DELEGATE_NOT_ALLOWED": "A delegated session cannot do this.",
}
# For services' refusals that say nothing more than their kind does.
PLAIN = {
    PermissionDenied: "You do not have permission to do this.",
    NotFound: "It is not there: it was deleted, or it is not yours to see.",
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
        if error.reason in SENTENCES:
            return status, SENTENCES[error.reason]
        if error.message == type(error).message:  # the class's default: say it plainly
            plain = next((text for cls, text in PLAIN.items() if isinstance(error, cls)), None)
            return status, plain or error.message
        return status, error.message
    raise error


def needs_fresh_login(error: BaseException | None) -> bool:
    return isinstance(error, ServiceError) and error.reason == "FRESH_LOGIN_REQUIRED"


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

    def render(
        self,
        template: str,
        status: int = 200,
        *,
        problem: BaseException | None = None,
        **context: Any,
    ) -> Response:
        """A page for this agent; with ``problem``, its sentence tops the page (and names the
        field at fault, when there is one), and its status is the page's."""
        if needs_fresh_login(problem):
            return self.reauthenticate()
        if problem is not None:
            status, context["error"] = explain(problem)
            context["error_field"] = getattr(problem, "field", "")
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
            _forget(response, "notice", self.runtime)
        return response

    def refused(self, error: BaseException) -> Response:
        status, message = explain(error)
        return self.render("problem.html", status, problem=error, message=message, code=status)

    def reauthenticate(self) -> Response:
        """Instead of a dead end, the password form that makes this sign-in fresh; it comes
        back to the page the refused form was on."""
        back = _console_path(self.request.headers.get("referer", ""), self.request)
        return self.render("reauth.html", 403, back=back, username=self.me.username)

    def redirect(self, path: str, notice: Notice | None = None) -> Response:
        """303 to a page, with a one-time notice for it (sealed to this login session)."""
        response = RedirectResponse(path, status_code=303)
        if notice is not None:
            sealed = self.runtime.console.seal_notice(str(self.me.session_id), asdict(notice))
            _remember(response, "notice", sealed, self.runtime, max_age=NOTICE_SECONDS)
        return response


Page = Callable[[Console], Awaitable[Response]]


def signed_in(view: Page) -> Callable[[Request], Awaitable[Response]]:
    """A console page: the sign-in page instead for anyone not signed in, and forms checked."""

    async def endpoint(request: Request) -> Response:
        runtime: Runtime = request.app.state.runtime
        try:
            me = await _console_agent(runtime, request)
        except Frozen:
            return _to_signin(runtime, "frozen")
        if me is None:
            ended = runtime.console.session_cookie in request.cookies
            return _to_signin(runtime, "ended" if ended else "")
        console = Console(request, runtime, me)
        if sealed := request.cookies.get(runtime.console.notice_cookie):
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
        except Exception as error:  # a fault of ours: a page that says so, the trace logged
            if database_unavailable(error):
                return unavailable(request)  # an outage: a page, and no trace per request
            request_id = request_id_of(request)
            log.exception("unhandled error in console request %s", request_id)
            message = f"Something went wrong on our side (request {request_id}); try again."
            return page("problem.html", 500, message=message, code=500)

    return endpoint


async def _console_agent(runtime: Runtime, request: Request) -> AgentIdentity | None:
    """The agent whose login token the console cookie holds, or None (sign in again).

    Only a login token of a live session will do: not an accesskey, a direct token or a
    delegation, whatever was put in the cookie. A frozen customer's agents raise Frozen.
    """
    value = request.cookies.get(runtime.console.session_cookie)
    if not value:
        return None
    try:
        identity = await identify_credential(runtime, Credential("token", value, "cookie"))
    except PermissionDenied as error:
        if error.reason == "ACCOUNT_FROZEN":
            raise Frozen() from None
        return None
    except ServiceError:
        return None
    return identity if isinstance(identity, AgentIdentity) else None


class Frozen(Exception):
    """The console's session belongs to a frozen customer: the sign-in page says so."""


def _console_path(url: str, request: Request) -> str:
    """A path of this console from a same-origin URL (a Referer), or the console's home."""
    parts = urlsplit(url)
    same_host = not parts.netloc or parts.netloc == request.headers.get("host")
    if same_host and parts.path.startswith("/admin/") and "//" not in parts.path:
        return parts.path
    return "/admin"


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


CookieKind = Literal["session", "signin", "notice"]


def _remember(
    response: Response,
    kind: CookieKind,
    value: str,
    runtime: Runtime,
    *,
    max_age: int | None = None,
) -> None:
    response.set_cookie(
        _cookie_name(kind, runtime),
        value,
        max_age=max_age,
        path=runtime.console.cookie_path,
        secure=runtime.settings.cookie_secure,
        httponly=True,
        samesite="strict",
    )


def _forget(response: Response, kind: CookieKind, runtime: Runtime) -> None:
    response.delete_cookie(
        _cookie_name(kind, runtime),
        path=runtime.console.cookie_path,
        secure=runtime.settings.cookie_secure,
        httponly=True,
        samesite="strict",
    )


def _cookie_name(kind: CookieKind, runtime: Runtime) -> str:
    """``session_cookie``, ``signin_cookie`` or ``notice_cookie`` of the console's protection."""
    return str(getattr(runtime.console, f"{kind}_cookie"))


# Sign-in and sign-out ------------------------------------------------------------------------

SIGNIN_MESSAGES = {
    "ended": "Your session has ended. Sign in again.",
    "signed_out": "You are signed out.",
    "frozen": "This account is frozen. Contact support.",
}


def _to_signin(runtime: Runtime, why: str) -> Response:
    """To the sign-in page, saying why; a console cookie that no longer works is forgotten."""
    response = RedirectResponse("/admin/signin" + (f"?{why}=1" if why else ""), 303)
    if why:
        _forget(response, "session", runtime)
    return response


async def home(request: Request) -> Response:
    """``/admin``: the first page the agent may use, or the sign-in page."""
    runtime: Runtime = request.app.state.runtime
    try:
        me = await _console_agent(runtime, request)
    except Frozen:
        return _to_signin(runtime, "frozen")
    if me is None:
        return RedirectResponse("/admin/signin", 303)
    return RedirectResponse(nav_for(me)[0].path, 303)


async def signin_page(request: Request) -> Response:
    runtime: Runtime = request.app.state.runtime
    try:
        if await _console_agent(runtime, request) is not None:
            return RedirectResponse("/admin", 303)
    except Frozen:
        return _to_signin(runtime, "frozen")
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
    nonce = request.cookies.get(runtime.console.signin_cookie) or new_signin_nonce()
    if not error and _cookies_will_not_stick(request, runtime):
        error = (
            "The console's cookies are Secure, so it needs HTTPS at this address: open it over "
            "https://, or set VBAUTH_COOKIE_SECURE=false for plain-HTTP development."
        )
    response = page(
        "signin.html",
        status,
        signed_in=None,
        csrf=runtime.console.csrf_token("signin:" + nonce),
        error=error,
        notice=notice,
        username=username,
    )
    _remember(response, "signin", nonce, runtime)
    return response


def _cookies_will_not_stick(request: Request, runtime: Runtime) -> bool:
    """Secure cookies over plain HTTP: browsers drop them, except on the machine itself."""
    if not runtime.settings.cookie_secure or request.url.scheme == "https":
        return False
    if runtime.settings.public_url.startswith("https://"):
        return False  # behind a TLS proxy that does not say so: trust the configured URL
    host = request.url.hostname or ""
    return host not in ("localhost", "127.0.0.1", "::1") and not host.endswith(".localhost")


async def signin(request: Request) -> Response:
    runtime: Runtime = request.app.state.runtime
    nonce = request.cookies.get(runtime.console.signin_cookie, "")
    try:
        if not nonce:
            raise FormProblem("Your browser must accept cookies to sign in.", 400)
        form = await _checked_form(request, runtime, "signin:" + nonce)
    except FormProblem as problem:
        return _signin_form(request, runtime, status=problem.status, error=problem.message)
    username = form.get("username")
    try:
        result = await _login(request, runtime, username, form.get("password"))
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
        "session",
        result.token.token,
        runtime,
        max_age=runtime.settings.token_ttl_login,
    )
    _forget(response, "signin", runtime)
    return response


@signed_in
async def signout(console: Console) -> Response:
    """End this login session (everywhere: its token is the console's own) and forget it."""
    await console.write(lambda session: logins.logout(session, by=console.me))
    response = RedirectResponse("/admin/signin?signed_out=1", 303)
    _forget(response, "session", console.runtime)
    return response


@signed_in
async def reauthenticate(console: Console) -> Response:
    """Swap this session for a fresh one (the password checked again), then go back.

    A new login session rather than a flag on the old one: freshness is when a session began,
    as everywhere else (``agents.require_recent_login``). The old one ends with the swap.
    """
    runtime, me = console.runtime, console.me
    back = _console_path(console.form.get("back"), console.request)
    try:
        result = await _login(console.request, runtime, me.username, console.form.get("password"))
    except InvalidCredentials:
        problem = FormProblem("The password is not right.", 401, field="password")
        return console.render("reauth.html", problem=problem, back=back, username=me.username)
    await console.write(lambda session: logins.logout(session, by=me))
    response = RedirectResponse(back, 303)
    _remember(
        response,
        "session",
        result.token.token,
        runtime,
        max_age=runtime.settings.token_ttl_login,
    )
    notice = Notice("Thank you. You can do it now.")
    sealed = runtime.console.seal_notice(str(result.session.id), asdict(notice))
    _remember(response, "notice", sealed, runtime, max_age=NOTICE_SECONDS)
    return response


async def _login(
    request: Request, runtime: Runtime, username: str, password: str
) -> logins.LoginResult:
    """A login as ``POST /auth/login`` makes one: its rate tier (counted here, for the posted
    forms only, so that loading the page costs no attempt), the throttle, the audit log."""
    client_ip = scope_client(request.scope, runtime.trusted_networks)
    await runtime.limits.check("auth_public", bucket_key(client_ip))
    return await logins.login(
        runtime.reads,
        runtime.transaction,
        passwords=runtime.passwords,
        keys=runtime.keys,
        username=username,
        password=password,
        ttl=runtime.settings.token_ttl_login,
        client_ip=client_ip,
        user_agent=request.headers.get("user-agent", ""),
        throttle=runtime.login_throttle,
    )


async def missing(request: Request) -> Response:
    """Any other address under /admin: a page, not the API's JSON (with the navigation for
    someone signed in, so they are not lost)."""
    runtime: Runtime = request.app.state.runtime
    try:
        me = await _console_agent(runtime, request)
    except Frozen:
        me = None
    if me is None:
        return page("missing.html", 404)
    return Console(request, runtime, me).render("missing.html", 404)


def not_allowed(allowed: list[str]) -> Callable[[Request], Awaitable[Response]]:
    async def endpoint(request: Request) -> Response:
        response = page("missing.html", 405, method=request.method)
        response.headers["Allow"] = ", ".join(allowed)
        return response

    return endpoint
