"""The error envelope (reference §8) for every failure, on every path."""

from __future__ import annotations

import logging
import time
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import DBAPIError
from starlette.exceptions import HTTPException
from starlette.requests import HTTPConnection
from starlette.responses import Response
from starlette.routing import Match

from vbauth.api.gates import authenticate_before_body
from vbauth.api.plain_page import CONSOLE_PREFIX, refusal_page
from vbauth.db import UNAVAILABLE, database_unavailable
from vbauth.security.passwords import HashingBusy
from vbauth.services import errors as service_errors

log = logging.getLogger("vbauth.api")

# Canonical status per HTTP code (reference §8).
CANONICAL_STATUS = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    402: "PAYMENT_REQUIRED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    405: "INVALID_ARGUMENT",
    408: "DEADLINE_EXCEEDED",
    409: "ALREADY_EXISTS",
    413: "INVALID_ARGUMENT",
    422: "INVALID_ARGUMENT",
    431: "INVALID_ARGUMENT",
    429: "RESOURCE_EXHAUSTED",
    502: "UNAVAILABLE",
    504: "UNAVAILABLE",
    503: "UNAVAILABLE",
    500: "INTERNAL",
}

SERVICE_ERROR_STATUS: dict[type[service_errors.ServiceError], tuple[int, str]] = {
    service_errors.InvalidArgument: (400, "INVALID_ARGUMENT"),
    service_errors.Unprocessable: (422, "INVALID_ARGUMENT"),
    service_errors.AuthenticationRequired: (401, "UNAUTHENTICATED"),
    service_errors.InvalidCredentials: (401, "UNAUTHENTICATED"),
    service_errors.PermissionDenied: (403, "PERMISSION_DENIED"),
    service_errors.NotFound: (404, "NOT_FOUND"),
    service_errors.AlreadyExists: (409, "ALREADY_EXISTS"),
    service_errors.StateInvalid: (409, "FAILED_PRECONDITION"),
    service_errors.TooManyRequests: (429, "RESOURCE_EXHAUSTED"),
}

# Types of pydantic error that mean "this is not the JSON we expect", as opposed to a value
# that parsed but is not acceptable (missing, empty, too long, not an email...).
SHAPE_ERRORS = {
    "json_invalid",
    "model_type",
    "model_attributes_type",
    "dict_type",
    "list_type",
    "string_type",
    "int_type",
    "int_from_float",
    "int_parsing",
    "bool_type",
    "bool_parsing",
    "float_type",
    "uuid_type",
    "uuid_parsing",
    "is_instance_of",
}


class ApiError(Exception):
    """An error the HTTP layer itself raises (bad path id, unknown route, ...)."""

    def __init__(
        self,
        http_status: int,
        reason: str,
        message: str,
        *,
        details: list[dict[str, Any]] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.http_status, self.reason, self.message = http_status, reason, message
        self.details, self.headers = details or [], headers or {}


def request_id_of(connection: HTTPConnection) -> str:
    return str(getattr(connection.state, "request_id", ""))


def envelope(
    request: HTTPConnection,
    http_status: int,
    reason: str,
    message: str,
    *,
    status: str | None = None,
    details: list[dict[str, Any]] | None = None,
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    request_id = request_id_of(request)
    body: dict[str, Any] = {
        "status": status or CANONICAL_STATUS.get(http_status, "INTERNAL"),
        "reason": reason,
        "message": message,
        "request_id": request_id,
    }
    if details:
        body["details"] = details
    all_headers = dict(headers or {})  # X-Request-Id is added by the front layer
    if http_status == 401:
        # RFC 6750 §3: tell the client which scheme to use.
        all_headers.setdefault("WWW-Authenticate", 'Bearer realm="vbauth"')
    return JSONResponse({"error": body}, status_code=http_status, headers=all_headers)


def response_for(
    connection: HTTPConnection, exc: service_errors.ServiceError | ApiError
) -> JSONResponse:
    """The envelope for a domain or HTTP-layer error, for any connection (WebSockets too)."""
    if isinstance(exc, ApiError):
        return envelope(
            connection,
            exc.http_status,
            exc.reason,
            exc.message,
            details=exc.details,
            headers=exc.headers,
        )
    http_status, status = next(
        (value for cls, value in SERVICE_ERROR_STATUS.items() if isinstance(exc, cls)),
        (500, "INTERNAL"),
    )
    headers = None
    if isinstance(exc, service_errors.TooManyRequests):
        headers = {"Retry-After": str(exc.retry_after)}
    return envelope(
        connection,
        http_status,
        exc.reason,
        exc.message,
        status=status,
        details=exc.details,
        headers=headers,
    )


async def _service_error(request: Request, exc: service_errors.ServiceError) -> JSONResponse:
    return response_for(request, exc)


async def _api_error(request: Request, exc: ApiError) -> JSONResponse:
    return response_for(request, exc)


async def _validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
    errors = exc.errors()
    first = errors[0] if errors else {"loc": ("body",), "type": "json_invalid"}
    where = first["loc"][0] if first["loc"] else "body"
    if where == "path":
        return envelope(request, 400, "INVALID_ID", "The id is not a valid identifier.")
    if where == "query":
        name = str(first["loc"][-1])
        if first["type"] == "missing":
            return envelope(
                request, 400, "MISSING_REQUEST_PARAMETER", f'The parameter "{name}" is required.'
            )
        return envelope(
            request,
            400,
            "INVALID_REQUEST_PARAMETER",
            f'The parameter "{name}" has an invalid format.',
        )
    if any(error["type"] == "json_invalid" for error in errors):
        try:  # FastAPI decoded the body before it asked for the credential
            await authenticate_before_body(request)
        except (service_errors.ServiceError, ApiError) as refusal:
            return response_for(request, refusal)
        return envelope(request, 400, "INVALID_JSON_BODY", "The request body is not valid JSON.")
    details = [
        {"field": ".".join(str(part) for part in error["loc"][1:]), "problem": error["msg"]}
        for error in errors[:20]
    ]  # messages only: inputs may be passwords
    if any(error["type"] in SHAPE_ERRORS for error in errors):
        return envelope(
            request,
            400,
            "INVALID_JSON_BODY",
            "The request body is not valid JSON of the expected shape.",
            details=details,
        )
    return envelope(request, 400, "INVALID_ARGUMENT", "The request is invalid.", details=details)


HTTP_ERROR_REASONS = {
    400: ("INVALID_JSON_BODY", "The request body could not be parsed."),
    404: ("ROUTE_NOT_FOUND", "The requested endpoint does not exist."),
    405: ("METHOD_NOT_ALLOWED", "The method is not allowed on this endpoint."),
    413: ("REQUEST_TOO_LARGE", "The request body is too large."),
}


async def _http_error(request: Request, exc: HTTPException) -> JSONResponse:
    if exc.status_code == 400 and caused_by(exc, BodyTimeout):
        # FastAPI reports any failure to read the body as a 400; a stalled one is a 408.
        return envelope(request, 408, "REQUEST_TIMEOUT", BodyTimeout.message)
    reason, message = HTTP_ERROR_REASONS.get(exc.status_code, ("INTERNAL", "Unexpected error."))
    headers = {k: v for k, v in (exc.headers or {}).items() if k.lower() == "allow"}
    if exc.status_code == 405:
        headers = {"Allow": ", ".join(sorted(_allowed_methods(request)))}
    return envelope(request, exc.status_code, reason, message, headers=headers)


class BodyTimeout(Exception):
    """The client stopped sending its body halfway (see ``front.BODY_PAUSE_SECONDS``)."""

    message = "The request body stopped arriving."


def caused_by(error: BaseException, kind: type[BaseException]) -> bool:
    """Whether ``error`` is ``kind`` or was raised from one (FastAPI or an HTTP client wraps it)."""
    seen: BaseException | None = error
    while seen is not None:
        if isinstance(seen, kind):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


def _allowed_methods(request: Request) -> set[str]:
    """Every method some route of this path takes (Starlette's 405 names only the first's)."""
    allowed: set[str] = set()
    for route in request.app.router.routes:
        match, _ = route.matches(request.scope)
        if match == Match.PARTIAL:
            allowed |= getattr(route, "methods", None) or set()
    return allowed


async def _hashing_busy(request: Request, exc: HashingBusy) -> JSONResponse:
    return envelope(
        request,
        503,
        "SERVICE_BUSY",
        "Too many password checks are in progress; try again shortly.",
        headers={"Retry-After": "1"},
    )


async def _database_error(request: Request, exc: Exception) -> Response:
    """Errors a database outage raises (and their kin): 503 when it is one, else a 500.

    Registered for those classes so that Starlette's exception middleware answers them: the
    catch-all below runs in its server-error middleware, which re-raises after answering, and
    the server then logs a traceback for every request the outage touches.
    """
    if database_unavailable(exc):
        return unavailable(request)
    log.error("unhandled error in request %s", request_id_of(request), exc_info=exc)
    return _fault(request)


def unavailable(connection: HTTPConnection) -> Response:
    """503 for a request that needs the database while it does not answer; logged as one
    line at most every few seconds, without a trace (an outage is not a bug)."""
    global _last_outage_log
    now = time.monotonic()
    if now - _last_outage_log >= OUTAGE_LOG_SECONDS:
        _last_outage_log = now
        log.warning("the database does not answer: requests that need it get 503")
    message = "The database is not answering; try again shortly."
    if connection.scope["path"].startswith(CONSOLE_PREFIX):
        return refusal_page(503, message, headers={"Retry-After": "5"})
    return envelope(connection, 503, "SERVICE_UNAVAILABLE", message, headers={"Retry-After": "5"})


OUTAGE_LOG_SECONDS = 5.0
_last_outage_log = float("-inf")


def _fault(connection: HTTPConnection) -> Response:
    if connection.scope["path"].startswith(CONSOLE_PREFIX):
        return refusal_page(500, "Something went wrong on our side; try again.")
    return envelope(connection, 500, "INTERNAL", "An internal error occurred.")


async def _unexpected_error(request: Request, exc: Exception) -> Response:
    # The trace goes to the server log with the request id; the client gets only the id.
    if database_unavailable(exc):
        return unavailable(request)
    log.error("unhandled error in request %s", request_id_of(request), exc_info=exc)
    return _fault(request)


def install_error_handlers(app: FastAPI) -> None:
    # Starlette types handlers as taking any Exception; each of these is only ever called with
    # the class it is registered for.
    app.add_exception_handler(service_errors.ServiceError, _service_error)  # type: ignore[arg-type]
    app.add_exception_handler(ApiError, _api_error)  # type: ignore[arg-type]
    app.add_exception_handler(RequestValidationError, _validation_error)  # type: ignore[arg-type]
    app.add_exception_handler(HTTPException, _http_error)  # type: ignore[arg-type]
    app.add_exception_handler(HashingBusy, _hashing_busy)  # type: ignore[arg-type]
    for kind in (*UNAVAILABLE, DBAPIError):
        app.add_exception_handler(kind, _database_error)
    app.add_exception_handler(Exception, _unexpected_error)
