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

_GATES: set[Gate] = set()


def authenticator(gate: Gate) -> Gate:
    """Mark a dependency (taking only the request) as one that authenticates the caller."""
    _GATES.add(gate)
    return gate


def gates_of(request: Request) -> Iterator[Gate]:
    """The authenticating dependencies of the route this request matched, outermost first."""
    dependant: Dependant | None = getattr(request.scope.get("route"), "dependant", None)
    pending = [dependant] if dependant is not None else []
    while pending:
        current = pending.pop(0)
        for dependency in current.dependencies:
            if dependency.call in _GATES:
                yield dependency.call
            else:
                pending.append(dependency)


async def authenticate_before_body(request: Request) -> None:
    """Run the route's authenticators; each raises its own 401 or 403."""
    for gate in gates_of(request):
        await gate(request)
