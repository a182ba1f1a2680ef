"""Responses for hot routes that have already validated their body."""

from __future__ import annotations

from collections.abc import Hashable

from fastapi import Response
from pydantic import BaseModel

from vbauth.runtime import Runtime


def json_of(model: BaseModel) -> Response:
    """``model`` as JSON, serialized once by pydantic.

    Returning the model itself would have FastAPI validate it a second time against the route's
    ``response_model``; the route still declares that model, so the OpenAPI document is the same.
    """
    # No Cache-Control here: the front layer gives every answer of vbauth's own no-store.
    return Response(model.model_dump_json().encode(), media_type="application/json")


def remember(runtime: Runtime, key: Hashable | None, response: Response, generation: int) -> None:
    """Keep a cached read's body for the front layer (``api/cached_reads.py``).

    ``generation`` is the cache's, noted before the read: a write that committed meanwhile has
    moved it on, and the body, possibly older than that write, is not kept.
    """
    if key is not None:
        runtime.records.put(
            key, response.body, ttl=runtime.settings.identity_cache_ttl, generation=generation
        )
