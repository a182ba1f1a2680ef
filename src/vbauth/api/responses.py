"""Responses for hot routes that have already validated their body."""

from __future__ import annotations

from fastapi import Response
from pydantic import BaseModel


def json_of(model: BaseModel) -> Response:
    """``model`` as JSON, serialized once by pydantic.

    Returning the model itself would have FastAPI validate it a second time against the route's
    ``response_model``; the route still declares that model, so the OpenAPI document is the same.
    """
    return Response(model.model_dump_json().encode(), media_type="application/json")
