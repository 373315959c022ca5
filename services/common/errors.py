"""Errors with their HTTP status and the API's error code (`docs/API.md`, "Errors").

Services raise these (or their domain-named subclasses); `services.common.http` maps them to the
JSON error body in one place.
"""

from typing import Any, ClassVar


class AppError(Exception):
    status: ClassVar[int] = 500
    code: ClassVar[str] = "internal_error"
    default_message: ClassVar[str] = "Internal error."

    def __init__(self, message: str | None = None, *, details: Any = None) -> None:
        self.message = message or self.default_message
        self.details = details
        self.headers: dict[str, str] = {}  # HTTP headers of the error answer (e.g. Retry-After)
        super().__init__(self.message)


class InvalidRequestError(AppError):
    status, code, default_message = 400, "invalid_request", "The request is invalid."


class SessionRequiredError(AppError):
    status, code = 401, "session_required"
    default_message = "A session is required: send the X-Session-Id header from POST /api/sessions."


class SessionInvalidError(AppError):
    status, code = 401, "session_invalid"
    default_message = "This session does not exist. Create a new one with POST /api/sessions."


class SessionExpiredError(AppError):
    status, code = 401, "session_expired"
    default_message = "This session has expired. Create a new one with POST /api/sessions."


class NotFoundError(AppError):
    status, code, default_message = 404, "not_found", "Not found."


class ConflictError(AppError):
    status, code, default_message = 409, "conflict", "The request conflicts with the current state."


class PayloadTooLargeError(AppError):
    status, code, default_message = 413, "payload_too_large", "The request body is too large."


class LimitExceededError(AppError):
    status, code, default_message = 429, "limit_exceeded", "A limit of this session was reached."


class RateLimitedError(AppError):
    """A rate limit of this client, or a spending limit of the whole service, is reached for now
    (`services.common.limits`): retrying after `retry_after_seconds` can succeed."""

    status, code, default_message = 429, "rate_limited", "Too many requests. Retry later."

    def __init__(self, message: str | None = None, *, retry_after_seconds: int) -> None:
        super().__init__(message, details={"retry_after_seconds": retry_after_seconds})
        self.retry_after_seconds = retry_after_seconds
        self.headers["Retry-After"] = str(retry_after_seconds)


class ServiceUnavailableError(AppError):
    status, code = 503, "service_unavailable"
    default_message = "A service this request needs is unavailable. Retry later."


class ItemError(Exception):
    """The failure of one item of a batch request (one video of POST /api/videos): reported in that
    item's result with one of docs/API.md's item error codes, never as the HTTP status."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
