"""The hub: who receives an event, and what happens to a consumer that falls behind."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator

import pytest

from vbauth.authn import Credential
from vbauth.events import topics
from vbauth.events.hub import Connection, Hub
from vbauth.events.model import Event
from vbauth.identity import AgentIdentity, DirectIdentity, Identity

pytestmark = pytest.mark.anyio

CUSTOMER, AI, OTHER_AI = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
Connect = Callable[..., Connection]


async def _nothing_bound(*_: object) -> None:
    return None


@pytest.fixture
def connect() -> Iterator[Connect]:
    """Connections with no socket behind them (only their queues are used), released after."""
    made: list[Connection] = []

    def connection(identity: Identity, queue_size: int = 10) -> Connection:
        made.append(
            Connection(
                None,
                identity,
                Credential("token", "t", "query"),  # type: ignore[arg-type]
                queue_size=queue_size,
                bindings=_nothing_bound,
            )
        )
        return made[-1]

    yield connection
    for each in made:
        each.release()


def _admin() -> AgentIdentity:
    return AgentIdentity(uuid.uuid4(), CUSTOMER, uuid.uuid4(), 32, "a@example.com", "active")


def _widget() -> DirectIdentity:
    return DirectIdentity(uuid.uuid4(), CUSTOMER, "ai", AI, ("aicall",), "active")


def _aicall_event(object_id: str, bound_to: uuid.UUID | None) -> Event:
    return Event(
        "aicall_updated", CUSTOMER, "aicall", object_id, {"id": object_id}, bound_to=bound_to
    )


def test_prefix_matching_is_on_whole_parts() -> None:
    assert topics.matches("customer_id:c", "customer_id:c:aicall:1", exact=False)
    assert not topics.matches("customer_id:c:aic", "customer_id:c:aicall:1", exact=False)
    assert not topics.matches("customer_id:c", "customer_id:c:aicall:1", exact=True)


async def test_admins_receive_their_customers_events_by_prefix(connect: Connect) -> None:
    admin = connect(_admin())
    admin.subscriptions.add(f"customer_id:{CUSTOMER}")
    hub = Hub()
    hub.add(admin)
    assert hub.deliver(_aicall_event("a1", AI)) == 1
    assert hub.deliver(Event("x_created", uuid.uuid4(), "x", "1")) == 0


async def test_direct_tokens_receive_only_bound_objects_on_exact_topics(
    connect: Connect,
) -> None:
    widget = connect(_widget())
    widget.subscriptions.add(f"customer_id:{CUSTOMER}:aicall:a1")
    assert widget.wants(_aicall_event("a1", AI))
    assert not widget.wants(_aicall_event("a1", OTHER_AI))  # same topic, another AI's object
    assert not widget.wants(_aicall_event("a1", None))
    assert not widget.wants(_aicall_event("a2", AI))


async def test_a_consumer_that_falls_behind_is_closed_not_starved(connect: Connect) -> None:
    slow = connect(_admin(), queue_size=3)
    for number in range(3):
        slow.offer(f"frame {number}")
    assert slow.close_code == 1000  # still fine
    slow.offer("one too many")
    assert (slow.close_code, slow.close_reason) == (1013, "too slow: the event queue is full")


async def test_refusal_reasons_name_the_rule() -> None:
    assert await topics.refusal(_admin(), f"customer_id:{CUSTOMER}", _nothing_bound) is None
    reason = await topics.refusal(_widget(), f"customer_id:{CUSTOMER}", _nothing_bound)
    assert reason is not None and "resource_id" in reason
    reason = await topics.refusal(_widget(), f"customer_id:{CUSTOMER}:aicall:a1", _nothing_bound)
    assert reason == "the object is not bound to this token's resource"


def test_an_event_survives_the_bus_wire_form() -> None:
    event = Event(
        "agent_updated",
        CUSTOMER,
        "agent",
        "a1",
        {"name": "x"},
        owner_agent_id=uuid.uuid4(),
        bound_to=AI,
    )
    assert Event.from_json(event.to_json()) == event
    assert event.topics == (
        f"customer_id:{CUSTOMER}:agent:a1",
        f"agent_id:{event.owner_agent_id}:agent:a1",
    )


def _manager() -> AgentIdentity:
    return AgentIdentity(uuid.uuid4(), CUSTOMER, uuid.uuid4(), 64, "m@example.com", "active")


def _own_event(kind: str, owner: uuid.UUID | None = None) -> Event:
    return Event(f"{kind}_created", CUSTOMER, kind, "1", {"id": "1"}, owner_agent_id=owner)


async def test_events_about_vbauths_objects_reach_only_who_may_read_them(
    connect: Connect,
) -> None:
    manager, admin = connect(_manager()), connect(_admin())
    for each in (manager, admin):
        each.subscriptions.add(f"customer_id:{CUSTOMER}")
    # GET /v1.0/accesskeys is an admin's: a manager does not hear of keys either.
    assert admin.wants(_own_event("accesskey"))
    assert not manager.wants(_own_event("accesskey"))
    for kind in ("agent", "customer", "direct"):
        assert manager.wants(_own_event(kind)) and admin.wants(_own_event(kind))
    plain = AgentIdentity(uuid.uuid4(), CUSTOMER, uuid.uuid4(), 16, "p@example.com", "active")
    agent = connect(plain)
    agent.subscriptions.add(f"agent_id:{plain.agent_id}")
    own_update = Event(
        "agent_updated",
        CUSTOMER,
        "agent",
        str(plain.agent_id),
        {},
        owner_agent_id=plain.agent_id,
    )
    assert agent.wants(own_update)
    assert manager.wants(_aicall_event("a1", AI))  # upstreams' objects: the topics decide
