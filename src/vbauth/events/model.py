"""An event, the topics it is published on, and its wire forms."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True, slots=True)
class Event:
    """Something happened to one object of one customer.

    ``bound_to`` is the resource (an AI, a widget) the object belongs to, when it has one: only
    direct tokens of that resource may receive it.
    """

    type: str
    customer_id: uuid.UUID
    resource_type: str
    resource_id: str
    data: dict[str, Any] = field(default_factory=dict)
    owner_agent_id: uuid.UUID | None = None
    bound_to: uuid.UUID | None = None

    @property
    def topics(self) -> tuple[str, ...]:
        """``customer_id:<c>:<type>:<id>``, and ``agent_id:<owner>:<type>:<id>`` when owned."""
        tail = f"{self.resource_type}:{self.resource_id}"
        topics = [f"customer_id:{self.customer_id}:{tail}"]
        if self.owner_agent_id is not None:
            topics.append(f"agent_id:{self.owner_agent_id}:{tail}")
        return tuple(topics)

    def frame(self) -> str:
        """What a subscriber receives (the reference's documented form)."""
        return json.dumps({"type": self.type, "data": self.data}, separators=(",", ":"))

    def to_json(self) -> str:
        return json.dumps(
            {
                "type": self.type,
                "customer_id": str(self.customer_id),
                "resource_type": self.resource_type,
                "resource_id": self.resource_id,
                "data": self.data,
                "owner_agent_id": str(self.owner_agent_id) if self.owner_agent_id else None,
                "bound_to": str(self.bound_to) if self.bound_to else None,
            },
            separators=(",", ":"),
        )

    @classmethod
    def from_json(cls, text: str | bytes) -> Event:
        raw = json.loads(text)
        return cls(
            type=raw["type"],
            customer_id=uuid.UUID(raw["customer_id"]),
            resource_type=raw["resource_type"],
            resource_id=raw["resource_id"],
            data=raw.get("data") or {},
            owner_agent_id=uuid.UUID(raw["owner_agent_id"]) if raw.get("owner_agent_id") else None,
            bound_to=uuid.UUID(raw["bound_to"]) if raw.get("bound_to") else None,
        )
