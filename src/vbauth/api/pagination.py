"""The ``page_size`` / ``page_token`` query parameters of every list (reference §1.10)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Query

from vbauth.api.errors import ApiError
from vbauth.clock import parse_timestamp
from vbauth.services.pages import Page


async def _page(  # async: FastAPI would run a plain def in a thread
    page_size: Annotated[int | None, Query()] = None,
    page_token: Annotated[str | None, Query(max_length=64)] = None,
) -> Page:
    before = None
    if page_token:
        try:
            before = parse_timestamp(page_token)
        except ValueError as error:
            raise ApiError(
                400,
                "INVALID_REQUEST_PARAMETER",
                'The parameter "page_token" has an invalid format.',
            ) from error
    return Page.of(page_size, before)


PageDep = Annotated[Page, Depends(_page)]
