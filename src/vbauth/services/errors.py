"""Domain errors. ``api.errors`` turns each into its HTTP status and envelope."""

from __future__ import annotations

from typing import Any


class ServiceError(Exception):
    reason = "INTERNAL"
    message = "An internal error occurred."

    def __init__(
        self,
        message: str | None = None,
        *,
        reason: str | None = None,
        details: list[dict[str, Any]] | None = None,
    ) -> None:
        self.message = message or type(self).message
        self.reason = reason or type(self).reason
        self.details = details or []
        super().__init__(self.message)


class InvalidArgument(ServiceError):
    reason = "INVALID_ARGUMENT"
    message = "The request is invalid."


class Unprocessable(ServiceError):
    """422: well-formed JSON whose values cannot be acted on (the reference's choice)."""

    reason = "INVALID_ARGUMENT"
    message = "The request is invalid."


class AuthenticationRequired(ServiceError):
    reason = "AUTHENTICATION_REQUIRED"
    message = "Authentication is required."


class InvalidCredentials(ServiceError):
    reason = "INVALID_CREDENTIALS"
    message = "The provided credentials are invalid."


class PermissionDenied(ServiceError):
    reason = "PERMISSION_DENIED"
    message = "You do not have permission to access this resource."


class NotFound(ServiceError):
    reason = "RESOURCE_NOT_FOUND"
    message = "The requested resource was not found."


class AlreadyExists(ServiceError):
    reason = "ALREADY_EXISTS"
    message = "The resource already exists."


class StateInvalid(ServiceError):
    reason = "STATE_INVALID"
    message = "The resource is not in a state that allows this operation."


class TooManyRequests(ServiceError):
    """429: a rate limit or the login throttle; ``retry_after`` whole seconds until it passes."""

    reason = "RATE_LIMIT_EXCEEDED"
    message = "Too many requests; slow down and retry later."

    def __init__(
        self,
        message: str | None = None,
        *,
        retry_after: int,
        reason: str | None = None,
        details: list[dict[str, Any]] | None = None,
    ) -> None:
        super().__init__(message, reason=reason, details=details)
        self.retry_after = retry_after
