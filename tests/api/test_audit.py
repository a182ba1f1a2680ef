"""The audit log's own rules, in process."""

from __future__ import annotations

import asyncio
import contextvars
from datetime import timedelta

import httpx
import pytest
from sqlalchemy import select
from starlette.types import Receive, Scope, Send

from tests.factories import make_customer
from vbauth import clock
from vbauth.api.front import Dispatch
from vbauth.models import AuditEvent, Customer
from vbauth.runtime import Runtime
from vbauth.services import audit, lifecycle

pytestmark = pytest.mark.anyio


async def test_jobs_the_lifespan_starts_act_as_the_operator() -> None:
    # A review found the lifespan's scope was taken for a request: the purge job's entries said
    # "anonymous", and behind trusted proxies they failed to be written at all.
    seen: list[audit.Actor] = []

    async def api(scope: Scope, receive: Receive, send: Send) -> None:
        async def job() -> None:  # a background job, started from inside the lifespan
            seen.append(audit.actor_of(None))

        await asyncio.create_task(job())

    async def nothing(*_args: object) -> bool:
        return False

    dispatch = Dispatch(
        api,
        verify=nothing,  # type: ignore[arg-type]
        gateway=nothing,  # type: ignore[arg-type]
        cached=nothing,
        cached_paths=frozenset(),
        own_segments=frozenset(),
    )

    async def receive() -> dict[str, object]:
        return {"type": "lifespan.startup"}

    async def send(_message: object) -> None:
        return None

    # A fresh context, as a server process starts with (earlier tests set the variable here).
    lifespan = dispatch({"type": "lifespan"}, receive, send)  # type: ignore[arg-type]
    await asyncio.create_task(lifespan, context=contextvars.Context())
    assert seen == [audit.OPERATOR]


async def test_the_purge_erases_customers_frozen_for_thirty_days_and_only_those(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    due, recent = await make_customer(runtime), await make_customer(runtime)
    async with runtime.transaction() as session:
        for tenant, days in ((due, 31), (recent, 29)):
            customer = await session.get(Customer, tenant.customer.id)
            assert customer is not None
            await lifecycle.freeze(session, customer=customer, by=None)
            customer.tm_deletion_scheduled = clock.now() - timedelta(days=days)
    # As the server's background job runs it: outside any request (a fresh context).
    assert await asyncio.create_task(runtime.purge_frozen(), context=contextvars.Context()) >= 1
    assert await runtime.purge_frozen() == 0  # nothing left to do, nothing done twice
    async with runtime.transaction(write=False) as session:
        gone = await session.get(Customer, due.customer.id)
        kept = await session.get(Customer, recent.customer.id)
        entries = (
            await session.scalars(
                select(AuditEvent).where(
                    AuditEvent.customer_id == due.customer.id,
                    AuditEvent.type == "customer_deleted",
                )
            )
        ).all()
    assert gone is not None and gone.status == "deleted"
    assert due.admin.username not in (gone.email, gone.name)
    assert kept is not None and kept.status == "frozen"
    assert [entry.actor_kind for entry in entries] == ["operator"]
