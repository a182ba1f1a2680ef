"""The reference's cursor pagination: newest first, ``tm_create`` strictly before the token."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVarTuple

from sqlalchemy import Select

from vbauth import clock

MAX_PAGE_SIZE = 100

Ts = TypeVarTuple("Ts")


@dataclass(frozen=True, slots=True)
class Page:
    size: int = MAX_PAGE_SIZE
    before: datetime | None = None  # None: from now

    @classmethod
    def of(cls, size: int | None, token: datetime | None) -> Page:
        """Sizes missing, non-positive or over 100 mean 100, as in the reference."""
        if size is None or size <= 0 or size > MAX_PAGE_SIZE:
            size = MAX_PAGE_SIZE
        return cls(size=size, before=token)


def paged(query: Select[*Ts], model: Any, page: Page) -> Select[*Ts]:
    before = page.before or clock.now()
    return (
        query.where(model.tm_create < before)
        .order_by(model.tm_create.desc(), model.id.desc())
        .limit(page.size)
    )


@dataclass(frozen=True, slots=True)
class Listing:
    """A page whose rows were filtered after the database paged them.

    ``cursor`` is the ``tm_create`` of the last row *read*, so a page the filter emptied still
    carries a token and the client goes on to the next one (``None``: nothing more to read).
    """

    items: list[Any]
    cursor: datetime | None
