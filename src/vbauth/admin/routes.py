"""Where each console page lives. Plain Starlette routes: no OpenAPI operations, no FastAPI
dependency solving, and every address under /admin answers with a page, never JSON."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from vbauth.admin import console, views
from vbauth.admin.render import static_asset

GET, POST = ["GET"], ["POST"]
Endpoint = Callable[[Request], Awaitable[Response]]

PAGES: list[Route] = [
    Route("/admin", console.home, methods=GET),
    Route("/admin/", console.home, methods=GET),
    Route("/admin/signin", console.signin_page, methods=GET),
    Route("/admin/signin", console.signin, methods=POST),
    Route("/admin/signout", console.signout, methods=POST),
    Route("/admin/reauth", console.reauthenticate, methods=POST),
    Route("/admin/static/{name}", static_asset, methods=GET),
    Route("/admin/accesskeys", views.accesskeys_page, methods=GET),
    Route("/admin/accesskeys", views.create_accesskey, methods=POST),
    Route("/admin/accesskeys/{key_id:uuid}/edit", views.edit_accesskey_page, methods=GET),
    Route("/admin/accesskeys/{key_id:uuid}/edit", views.edit_accesskey, methods=POST),
    Route("/admin/accesskeys/{key_id:uuid}/delete", views.delete_accesskey_page, methods=GET),
    Route("/admin/accesskeys/{key_id:uuid}/delete", views.delete_accesskey, methods=POST),
    Route("/admin/agents", views.agents_page, methods=GET),
    Route("/admin/agents", views.create_agent, methods=POST),
    Route("/admin/agents/{agent_id:uuid}", views.agent_page, methods=GET),
    Route("/admin/agents/{agent_id:uuid}/permission", views.agent_permission, methods=POST),
    Route("/admin/agents/{agent_id:uuid}/password", views.agent_password, methods=POST),
    Route("/admin/agents/{agent_id:uuid}/delete", views.delete_agent_page, methods=GET),
    Route("/admin/agents/{agent_id:uuid}/delete", views.delete_agent, methods=POST),
    Route("/admin/directs", views.directs_page, methods=GET),
    Route("/admin/directs", views.create_direct, methods=POST),
    Route("/admin/directs/{direct_id:uuid}/regenerate", views.regenerate_direct_page, methods=GET),
    Route("/admin/directs/{direct_id:uuid}/regenerate", views.regenerate_direct, methods=POST),
    Route("/admin/directs/{direct_id:uuid}/delete", views.delete_direct_page, methods=GET),
    Route("/admin/directs/{direct_id:uuid}/delete", views.delete_direct, methods=POST),
    Route("/admin/sessions", views.sessions_page, methods=GET),
    Route("/admin/sessions/end-others", views.end_other_sessions, methods=POST),
    Route("/admin/sessions/{session_id:uuid}/end", views.end_session, methods=POST),
    Route("/admin/audit", views.audit_page, methods=GET),
    Route("/admin/customers", views.customers_page, methods=GET),
    Route("/admin/customers/{customer_id:uuid}/freeze", views.freeze_customer_page, methods=GET),
    Route("/admin/customers/{customer_id:uuid}/freeze", views.freeze_customer, methods=POST),
    Route("/admin/customers/{customer_id:uuid}/recover", views.recover_customer_page, methods=GET),
    Route("/admin/customers/{customer_id:uuid}/recover", views.recover_customer, methods=POST),
    Route("/admin/account", views.account_page, methods=GET),
    Route("/admin/account/password", views.account_password, methods=POST),
]


def _allowed(path: str) -> list[str]:
    return sorted({method for page in PAGES if page.path == path for method in page.methods or ()})


def _any_method(path: str, endpoint: Endpoint) -> Route:
    """A route that takes every method, TRACE and made-up ones included (a Route's methods
    are a list; None is any)."""
    route = Route(path, endpoint)
    route.methods = None
    return route


ROUTES: list[BaseRoute] = [
    *PAGES,
    # Then, for each address, any other method: a page saying so (Starlette's own 405 would
    # reach the API's JSON handler), and last anything else under /admin: a page too.
    *(
        _any_method(path, console.not_allowed(_allowed(path)))
        for path in dict.fromkeys(page.path for page in PAGES)
    ),
    _any_method("/admin/{rest:path}", console.missing),
]
