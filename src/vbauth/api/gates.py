"""Which of a route's dependencies authenticate the caller.

FastAPI reads and decodes a request's body before it solves any dependency, so a body that is
not JSON would be refused (400) before the caller's credential is looked at. VoIPBIN, and any
client that retries on 401, expects the credential first: a caller without one learns nothing
about the body. The error handler asks the route's authenticators before it blames the body.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterator
from typing import Any

from fastapi.dependencies.models import Dependant
from starlette.requests import Request

Gate = Callable[[Request], Awaitable[Any]]

# Each authenticating dependency, with the kind of credential it takes: "caller" (any of a
# customer's credentials) or "events" (the upstreams' secret). The OpenAPI document says so.
_GATES: dict[Callable[..., Any], str] = {}


def authenticator(kind: str) -> Callable[[Gate], Gate]:
    """Mark a dependency (taking only the request) as one that authenticates the caller."""

    def mark(gate: Gate) -> Gate:
        _GATES[gate] = kind
        return gate

    return mark


def dependants_of(dependant: Dependant | None) -> Iterator[Dependant]:
    """A route's dependant and all it depends on, outermost first."""
    pending = [dependant] if dependant is not None else []
    while pending:
        current = pending.pop(0)
        yield current
        pending.extend(current.dependencies)


def gates_of(dependant: Dependant | None) -> Iterator[Gate]:
    """The authenticating dependencies of a route, outermost first."""
    return (d.call for d in dependants_of(dependant) if d.call in _GATES)


def gate_names(dependant: Dependant | None) -> set[str]:
    """The kinds of credential a route's authenticators take (empty: a public route)."""
    return {_GATES[gate] for gate in gates_of(dependant)}


async def authenticate_before_body(request: Request) -> None:
    """Run the route's authenticators; each raises its own 401 or 403."""
    for gate in gates_of(getattr(request.scope.get("route"), "dependant", None)):
        await gate(request)
