"""HTML form bodies in, the API's own input models out, and problems said as sentences."""

from __future__ import annotations

from typing import Any, TypeVar
from urllib.parse import parse_qsl

from pydantic import BaseModel, ValidationError
from starlette.exceptions import HTTPException
from starlette.requests import Request

MAX_FIELDS = 64

Model = TypeVar("Model", bound=BaseModel)


class FormProblem(Exception):
    """A form the console cannot act on; ``message`` is shown to the person as it is."""

    def __init__(self, message: str, status: int = 400, *, field: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.field = field  # the form field at fault (its name), when there is one


class Form:
    """The fields of a submitted form, each taken once (a repeated field is a list)."""

    def __init__(self, pairs: list[tuple[str, str]]) -> None:
        self._pairs = pairs

    def get(self, name: str, default: str = "") -> str:
        return next((value for key, value in self._pairs if key == name), default)

    def all(self, name: str) -> list[str]:
        return [value for key, value in self._pairs if key == name]

    def kept(self, *names: str) -> dict[str, str]:
        """What to put back in the form when it is shown again (never a password)."""
        return {name: self.get(name) for name in names}


async def read_form(request: Request) -> Form:
    """The body as ``application/x-www-form-urlencoded`` (what the console's forms send).

    The front layer has already bounded its size; here it must be UTF-8 and not absurd.
    """
    try:
        body = await request.body()
    except HTTPException as error:  # the front layer's bound, met while the body streamed in
        raise FormProblem("The form is too large.", error.status_code) from None
    try:
        text = body.decode("utf-8")
        pairs = parse_qsl(
            text, keep_blank_values=True, strict_parsing=False, max_num_fields=MAX_FIELDS
        )
    except (UnicodeDecodeError, ValueError) as error:
        raise FormProblem("The form could not be read; reload the page and try again.") from error
    return Form(pairs)


# The API's field names, as the console's labels call them.
LABELS = {
    "name": "Name",
    "detail": "Detail",
    "expire": "Expires in",
    "username": "Username",
    "password": "Password",
    "current_password": "Current password",
    "permission": "Permissions",
    "resource_type": "Resource type",
    "resource_id": "Resource ID",
}


def parse(model: type[Model], values: dict[str, object]) -> Model:
    """``values`` checked by the API's own input model, or the first problem as a sentence."""
    try:
        return model.model_validate(values)
    except ValidationError as error:
        first = error.errors()[0]
        field = str(first["loc"][0]) if first["loc"] else ""
        label = LABELS.get(field, field.replace("_", " ").capitalize() or "The form")
        raise FormProblem(f"{label}: {_problem(first)}", field=field) from None


def _problem(error: Any) -> str:
    """What is wrong, said for a person (pydantic's wording is for programmers)."""
    kind, limits = error["type"], error.get("ctx", {})
    if kind.startswith("uuid"):
        return "enter an ID such as 3f1c4a8e-0d6b-4c1e-9a57-2b8f3d9e6c10."
    if kind == "string_too_long":
        return f"at most {limits['max_length']:,} characters."
    if kind == "string_too_short":
        return f"at least {limits['min_length']:,} characters."
    message = str(error["msg"]).removeprefix("Value error, ")
    message = message[:1].lower() + message[1:]
    return message if message.endswith(".") else message + "."
