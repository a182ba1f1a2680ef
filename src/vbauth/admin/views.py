"""The console's pages: each lists through a service and acts through the API's own service
call, with the signed-in agent as the caller (``console.signed_in``).

A form that is refused is shown again with the refusal as a sentence and the values typed
(never a password); one that succeeds redirects (303) to a page that shows a one-time notice.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession
from starlette.requests import Request
from starlette.responses import Response

from vbauth.admin.console import Console, Notice, Refusal, signed_in
from vbauth.admin.forms import FormProblem, parse
from vbauth.clock import format_timestamp, parse_timestamp
from vbauth.models import DIRECT_RESOURCE_TYPES
from vbauth.permissions import (
    CUSTOMER_ADMIN_BIT,
    SUPER_ADMIN_BIT,
    Permission,
)
from vbauth.schemas import (
    AccesskeyCreate,
    AccesskeyUpdate,
    AgentCreate,
    DirectCreate,
    PasswordUpdate,
)
from vbauth.services import accesskeys, agents, audit, customers, directs, lifecycle, sessions
from vbauth.services.pages import Page

PAGE_SIZE = 50
MAX_EXPIRE_DAYS = accesskeys.MAX_EXPIRE // 86400

# The permission bits a person chooses among, highest first, with what each lets one do.
ROLES = (
    (SUPER_ADMIN_BIT, "Superadmin", "everything, for every customer"),
    (CUSTOMER_ADMIN_BIT, "Admin", "everything within the customer"),
    (int(Permission.CUSTOMER_MANAGER), "Manager", "agents and directs"),
    (int(Permission.CUSTOMER_AGENT), "Agent", "their own account"),
)
ROLE_BITS = sum(bit for bit, _, _ in ROLES)


def roles_of(permission: int) -> str:
    names = [name for bit, name, _ in ROLES if permission & bit]
    return ", ".join(names) or "None"


def _page(console: Console) -> Page:
    """The page of a list the address asks for: ``before`` is the last row's time."""
    before = console.request.query_params.get("before")
    if not before:
        return Page(size=PAGE_SIZE)
    try:
        return Page(size=PAGE_SIZE, before=parse_timestamp(before))
    except ValueError as error:
        raise FormProblem("That page of the list does not exist.", 404) from error


def _older(rows: list[Any], cursor: datetime | None = None) -> str:
    """The ``before`` of the next page, or "" when this one was the last."""
    if len(rows) < PAGE_SIZE:
        return ""
    return format_timestamp(cursor or rows[-1].tm_create)


def _id(console: Console, name: str) -> uuid.UUID:
    value: uuid.UUID = console.request.path_params[name]  # the route's {name:uuid}
    return value


def confirmation(
    load: Callable[[AsyncSession, Console], Awaitable[Any]],
    *,
    question: Callable[[Any], str],
    consequence: str,
    button: str,
    back: Callable[[Any], str],
) -> Callable[[Request], Awaitable[Response]]:
    """A page that asks before an action that cannot be taken back; its button posts to the
    same address, where the action itself lives."""

    @signed_in
    async def confirm_page(console: Console) -> Response:
        thing = await console.read(lambda session: load(session, console))
        return console.render(
            "confirm.html",
            question=question(thing),
            consequence=consequence,
            action=console.request.url.path,
            button=button,
            back=back(thing),
        )

    return confirm_page


# Access keys ---------------------------------------------------------------------------------


@signed_in
async def accesskeys_page(console: Console) -> Response:
    return await _accesskeys(console)


async def _accesskeys(
    console: Console, *, error: BaseException | None = None, kept: dict[str, str] | None = None
) -> Response:
    page = _page(console)
    keys = await console.read(lambda s: accesskeys.list_page(s, by=console.me, page=page))
    return console.render(
        "accesskeys.html",
        problem=error,
        keys=keys,
        older=_older(keys),
        kept=kept or {"name": "", "detail": "", "expire_days": "365"},
    )


@signed_in
async def create_accesskey(console: Console) -> Response:
    form = console.form
    try:
        days = _whole_number(form.get("expire_days", "365"), "Expires in (days)", "expire_days")
        if not 1 <= days <= MAX_EXPIRE_DAYS:
            raise FormProblem("Expires in (days): from 1 to 3,653.", field="expire_days")
        body = parse(
            AccesskeyCreate,
            {"name": form.get("name"), "detail": form.get("detail"), "expire": days * 86400},
        )
        key, token = await console.write(
            lambda s: accesskeys.create(
                s, by=console.me, name=body.name, detail=body.detail, expire=body.expire
            )
        )
    except Refusal as error:
        return await _accesskeys(
            console, error=error, kept=form.kept("name", "detail", "expire_days")
        )
    return console.redirect(
        "/admin/accesskeys",
        Notice(
            f"Access key “{key.name or key.token_prefix}” created.",
            new_key={"name": key.name, "token": token, "expire": format_timestamp(key.tm_expire)},
        ),
    )


def _whole_number(text: str, label: str, field: str) -> int:
    try:
        return int(text.strip())
    except ValueError:
        raise FormProblem(f"{label}: enter a whole number.", field=field) from None


@signed_in
async def edit_accesskey_page(console: Console) -> Response:
    key_id = _id(console, "key_id")
    key = await console.read(lambda s: accesskeys.get(s, by=console.me, key_id=key_id))
    return console.render("accesskey_edit.html", key=key, kept=None)


@signed_in
async def edit_accesskey(console: Console) -> Response:
    key_id, form = _id(console, "key_id"), console.form
    try:
        body = parse(AccesskeyUpdate, {"name": form.get("name"), "detail": form.get("detail")})
        changes = body.model_dump(exclude_none=True)
        await console.write(
            lambda s: accesskeys.update(s, by=console.me, key_id=key_id, changes=changes)
        )
    except Refusal as error:
        key = await console.read(lambda s: accesskeys.get(s, by=console.me, key_id=key_id))
        kept = form.kept("name", "detail")
        return console.render("accesskey_edit.html", problem=error, key=key, kept=kept)
    return console.redirect("/admin/accesskeys", Notice("Access key saved."))


delete_accesskey_page = confirmation(
    lambda s, c: accesskeys.get(s, by=c.me, key_id=_id(c, "key_id")),
    question=lambda key: f"Delete the access key “{key.name or key.token_prefix}”?",
    consequence="Programs using it are refused from the next request. This cannot be undone.",
    button="Delete",
    back=lambda key: "/admin/accesskeys",
)


@signed_in
async def delete_accesskey(console: Console) -> Response:
    key_id = _id(console, "key_id")
    key = await console.write(lambda s: accesskeys.delete(s, by=console.me, key_id=key_id))
    return console.redirect(
        "/admin/accesskeys", Notice(f"Access key “{key.name or key.token_prefix}” deleted.")
    )


# Agents --------------------------------------------------------------------------------------


def _role_choices(console: Console) -> list[tuple[int, str, str]]:
    """The roles this agent may grant: exactly what the API would accept from it."""
    return [role for role in ROLES if role[0] & console.me.grantable == role[0]]


@signed_in
async def agents_page(console: Console) -> Response:
    return await _agents(console)


async def _agents(
    console: Console, *, error: BaseException | None = None, kept: dict[str, Any] | None = None
) -> Response:
    page = _page(console)
    listing = await console.read(lambda s: agents.list_page(s, by=console.me, page=page))
    return console.render(
        "agents.html",
        problem=error,
        agents=listing.items,
        older=_older(listing.items, listing.cursor),
        roles_of=roles_of,
        choices=_role_choices(console),
        kept=kept or {"username": "", "name": "", "bits": int(Permission.CUSTOMER_AGENT)},
    )


def _chosen_bits(console: Console) -> int:
    try:
        chosen = {int(value) for value in console.form.all("permission")}
    except ValueError:
        raise FormProblem(
            "Permissions: choose among the roles listed.", field="permission"
        ) from None
    allowed = {bit for bit, _, _ in ROLES}
    if not chosen <= allowed:
        raise FormProblem("Permissions: choose among the roles listed.", field="permission")
    return sum(chosen)


@signed_in
async def create_agent(console: Console) -> Response:
    form = console.form
    try:
        bits = _chosen_bits(console)
        if not bits:
            raise FormProblem("Permissions: choose at least one role.", field="permission")
        body = parse(
            AgentCreate,
            {
                "username": form.get("username"),
                "password": form.get("password"),
                "name": form.get("name"),
                "permission": bits,
            },
        )
        agent = await console.write(
            lambda s: agents.create(
                s,
                by=console.me,
                passwords=console.runtime.passwords,
                username=body.username,
                password=body.password,
                permission=body.permission,
                name=body.name,
                detail="",
                ring_method="ringall",
                tag_ids=[],
                addresses=[],
            )
        )
    except Refusal as error:
        kept = {**form.kept("username", "name"), "bits": _bits_or_zero(console)}
        return await _agents(console, error=error, kept=kept)
    return console.redirect(f"/admin/agents/{agent.id}", Notice(f"Agent {agent.username} created."))


def _bits_or_zero(console: Console) -> int:
    try:
        return _chosen_bits(console)
    except FormProblem:
        return 0


@signed_in
async def agent_page(console: Console) -> Response:
    return await _agent(console)


async def _agent(console: Console, *, error: BaseException | None = None) -> Response:
    agent_id = _id(console, "agent_id")
    agent = await console.read(lambda s: agents.get(s, by=console.me, agent_id=agent_id))
    itself = agent.id == console.me.agent_id
    return console.render(
        "agent.html",
        problem=error,
        agent=agent,
        roles_of=roles_of,
        choices=_role_choices(console),
        itself=itself,
        # The services' rule (agents.load_manageable): no one manages rights it cannot grant.
        manageable=itself or not agent.permission & ~console.me.grantable,
    )


@signed_in
async def agent_permission(console: Console) -> Response:
    agent_id = _id(console, "agent_id")
    try:
        chosen = _chosen_bits(console)

        async def change(session: Any) -> Any:
            agent = await agents.get(session, by=console.me, agent_id=agent_id)
            # Bits the form does not offer stay as they are (the API sets the whole value).
            offered = sum(bit for bit, _, _ in _role_choices(console))
            permission = (agent.permission & ~offered) | chosen
            return await agents.update_permission(
                session, by=console.me, agent_id=agent_id, permission=permission
            )

        agent = await console.write(change)
    except Refusal as error:
        return await _agent(console, error=error)
    return console.redirect(
        f"/admin/agents/{agent_id}", Notice(f"Permissions of {agent.username} saved.")
    )


@signed_in
async def agent_password(console: Console) -> Response:
    agent_id = _id(console, "agent_id")
    try:
        agent = await _set_password(console, agent_id)
    except Refusal as error:
        return await _agent(console, error=error)
    return console.redirect(
        f"/admin/agents/{agent_id}", Notice(f"Password of {agent.username} set.")
    )


async def _set_password(console: Console, agent_id: uuid.UUID) -> Any:
    form = console.form
    values: dict[str, object] = {"password": form.get("password")}
    if current := form.get("current_password"):
        values["current_password"] = current
    body = parse(PasswordUpdate, values)
    return await console.write(
        lambda s: agents.update_password(
            s,
            by=console.me,
            passwords=console.runtime.passwords,
            agent_id=agent_id,
            password=body.password,
            current_password=body.current_password,
        )
    )


delete_agent_page = confirmation(
    lambda s, c: agents.load_manageable(s, c.me, _id(c, "agent_id")),
    question=lambda agent: f"Delete the agent {agent.username}?",
    consequence="Their sessions end at once and they can no longer sign in.",
    button="Delete",
    back=lambda agent: f"/admin/agents/{agent.id}",
)


@signed_in
async def delete_agent(console: Console) -> Response:
    agent_id = _id(console, "agent_id")
    agent = await console.write(lambda s: agents.delete(s, by=console.me, agent_id=agent_id))
    return console.redirect("/admin/agents", Notice(f"Agent {agent.username} deleted."))


# Directs -------------------------------------------------------------------------------------


@signed_in
async def directs_page(console: Console) -> Response:
    return await _directs(console)


async def _directs(
    console: Console, *, error: BaseException | None = None, kept: dict[str, str] | None = None
) -> Response:
    page = _page(console)
    rows = await console.read(lambda s: directs.list_page(s, by=console.me, page=page))
    template = console.runtime.settings.direct_link_url
    return console.render(
        "directs.html",
        problem=error,
        directs=rows,
        older=_older(rows),
        link_of=lambda direct: template.replace("{hash}", direct.hash) if template else "",
        resource_types=DIRECT_RESOURCE_TYPES,
        kept=kept or {"resource_type": "", "resource_id": ""},
    )


@signed_in
async def create_direct(console: Console) -> Response:
    form = console.form
    try:
        body = parse(
            DirectCreate,
            {
                "resource_type": form.get("resource_type"),
                "resource_id": form.get("resource_id").strip(),
            },
        )
        await console.write(
            lambda s: directs.create(
                s, by=console.me, resource_type=body.resource_type, resource_id=body.resource_id
            )
        )
    except Refusal as error:
        return await _directs(console, error=error, kept=form.kept("resource_type", "resource_id"))
    return console.redirect("/admin/directs", Notice("Direct hash created."))


def _direct(session: AsyncSession, console: Console) -> Awaitable[Any]:
    return directs.get(session, by=console.me, direct_id=_id(console, "direct_id"))


def _resource(direct: Any) -> str:
    return f"{direct.resource_type} {direct.resource_id}"


regenerate_direct_page = confirmation(
    _direct,
    question=lambda direct: f"Regenerate the hash of {_resource(direct)}?",
    consequence="Links with the old hash stop working, and so do tokens booted from it.",
    button="Regenerate",
    back=lambda direct: "/admin/directs",
)


@signed_in
async def regenerate_direct(console: Console) -> Response:
    direct_id = _id(console, "direct_id")
    await console.write(lambda s: directs.regenerate(s, by=console.me, direct_id=direct_id))
    return console.redirect("/admin/directs", Notice("Direct hash regenerated."))


delete_direct_page = confirmation(
    _direct,
    question=lambda direct: f"Delete the hash of {_resource(direct)}?",
    consequence="Links with it stop working, and so do tokens booted from it.",
    button="Delete",
    back=lambda direct: "/admin/directs",
)


@signed_in
async def delete_direct(console: Console) -> Response:
    direct_id = _id(console, "direct_id")
    await console.write(lambda s: directs.delete(s, by=console.me, direct_id=direct_id))
    return console.redirect("/admin/directs", Notice("Direct hash deleted."))


# Sessions ------------------------------------------------------------------------------------


@signed_in
async def sessions_page(console: Console) -> Response:
    me, page = console.me, _page(console)
    rows = await console.read(
        lambda s: sessions.list_page(s, by=me, agent_id=me.agent_id, page=page)
    )
    return console.render("sessions.html", sessions=rows, older=_older(rows))


@signed_in
async def end_session(console: Console) -> Response:
    me, session_id = console.me, _id(console, "session_id")
    if session_id == me.session_id:
        raise FormProblem("This is the session you are using; sign out to end it.")
    await console.write(
        lambda s: sessions.end(s, by=me, agent_id=me.agent_id, session_id=session_id)
    )
    return console.redirect("/admin/sessions", Notice("Session ended."))


@signed_in
async def end_other_sessions(console: Console) -> Response:
    me = console.me
    ended = await console.write(
        lambda s: sessions.end_all(s, by=me, agent_id=me.agent_id, keep=me.session_id)
    )
    noun = "session" if ended == 1 else "sessions"
    return console.redirect("/admin/sessions", Notice(f"{ended} other {noun} ended."))


# Audit log -----------------------------------------------------------------------------------


@signed_in
async def audit_page(console: Console) -> Response:
    query = console.request.query_params
    chosen = {
        "type": query.get("type", ""),
        "from": query.get("from", ""),
        "to": query.get("to", ""),
    }
    scope = audit.readable_scope(console.me)
    types = sorted(audit.TYPES)
    try:
        if chosen["type"] and chosen["type"] not in audit.TYPES:
            raise FormProblem("Type: choose one of the types listed.", field="type")
        since = _day(chosen["from"], "From", "from")
        until = _day(chosen["to"], "To", "to", after=True)
        if since and until and since >= until:
            raise FormProblem("From: the first day must not be after the last.", field="from")
        page = _page(console)
    except FormProblem as problem:
        return console.render(
            "audit.html", problem=problem, events=[], older="", chosen=chosen, types=types
        )
    listing = await console.read(
        lambda s: audit.list_page(
            s,
            customer_id=scope,
            page=page,
            type=chosen["type"] or None,
            since=since,
            until=until,
        )
    )
    return console.render(
        "audit.html",
        events=listing.items,
        older=_older(listing.items, listing.cursor),
        chosen=chosen,
        types=types,
        every_customer=scope is None,  # a superadmin's view: say whose each entry is
    )


def _day(text: str, label: str, field: str, *, after: bool = False) -> datetime | None:
    """The start of a ``YYYY-MM-DD`` day (``after``: of the day after it, the end of a range)."""
    if not text:
        return None
    try:
        moment = datetime.combine(date.fromisoformat(text), time(), tzinfo=UTC)
        return moment + timedelta(days=1) if after else moment
    except (ValueError, OverflowError):
        raise FormProblem(f"{label}: enter a date as YYYY-MM-DD.", field=field) from None


# Customers (platform superadmins) ------------------------------------------------------------


@signed_in
async def customers_page(console: Console) -> Response:
    page = _page(console)
    rows = await console.read(lambda s: customers.list_page(s, by=console.me, page=page))
    return console.render("customers.html", customers=rows, older=_older(rows))


def _customer(session: AsyncSession, console: Console) -> Awaitable[Any]:
    return customers.get(session, by=console.me, customer_id=_id(console, "customer_id"))


freeze_customer_page = confirmation(
    _customer,
    question=lambda customer: f"Freeze the customer {customer.name or customer.email}?",
    consequence="Its credentials are refused until it is recovered; its data is erased in 30 days.",
    button="Freeze",
    back=lambda customer: "/admin/customers",
)
recover_customer_page = confirmation(
    _customer,
    question=lambda customer: f"Recover the customer {customer.name or customer.email}?",
    consequence="Its credentials work again at once.",
    button="Recover",
    back=lambda customer: "/admin/customers",
)


@signed_in
async def freeze_customer(console: Console) -> Response:
    customer_id = _id(console, "customer_id")
    customer = await console.write(
        lambda s: lifecycle.freeze_customer(s, by=console.me, customer_id=customer_id)
    )
    return console.redirect(
        "/admin/customers", Notice(f"{customer.name or customer.email} frozen.")
    )


@signed_in
async def recover_customer(console: Console) -> Response:
    customer_id = _id(console, "customer_id")
    customer = await console.write(
        lambda s: lifecycle.recover_customer(s, by=console.me, customer_id=customer_id)
    )
    return console.redirect(
        "/admin/customers", Notice(f"{customer.name or customer.email} recovered.")
    )


# Account -------------------------------------------------------------------------------------


@signed_in
async def account_page(console: Console) -> Response:
    return await _account(console)


async def _account(console: Console, *, error: BaseException | None = None) -> Response:
    me = console.me
    agent = await console.read(lambda s: agents.get(s, by=me, agent_id=me.agent_id))
    return console.render("account.html", problem=error, agent=agent, roles_of=roles_of)


@signed_in
async def account_password(console: Console) -> Response:
    try:
        await _set_password(console, console.me.agent_id)
    except Refusal as error:
        return await _account(console, error=error)
    return console.redirect(
        "/admin/account", Notice("Your password is changed; your other sessions have ended.")
    )
