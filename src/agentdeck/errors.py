"""Domain errors: what went wrong, in terms a client can act on.

Free of the web framework, so every layer (kit, services, jobs) can raise them;
`agentdeck.problems` is their one translation to RFC 9457 problem+json responses.
"""

from __future__ import annotations

from typing import Any


class AppError(Exception):
    """An error the client can act on. Subclasses set status, type and title."""

    status: int = 400
    type: str = "bad-request"
    title: str = "Bad request"

    def __init__(
        self,
        detail: str | None = None,
        *,
        field: str | None = None,
        headers: dict[str, str] | None = None,
        extra: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(detail or self.title)
        self.detail = detail or self.title
        self.field = field
        self.headers = headers or {}
        self.extra = extra or {}


class Unauthorized(AppError):
    status, type, title = 401, "unauthorized", "Authentication required"

    def __init__(self, detail: str | None = None, **kwargs: Any) -> None:
        kwargs.setdefault("headers", {"WWW-Authenticate": "Bearer"})
        super().__init__(detail, **kwargs)


class Forbidden(AppError):
    status, type, title = 403, "forbidden", "Not allowed"


class NotFound(AppError):
    status, type, title = 404, "not-found", "Not found"


class Conflict(AppError):
    status, type, title = 409, "conflict", "Conflict"


class InvalidInput(AppError):
    status, type, title = 422, "invalid-input", "Invalid input"


class TooManyRequests(AppError):
    status, type, title = 429, "too-many-requests", "Too many requests"

    def __init__(self, detail: str | None = None, *, retry_after: int, **kwargs: Any) -> None:
        kwargs.setdefault("headers", {"Retry-After": str(max(1, retry_after))})
        super().__init__(detail, **kwargs)
        self.retry_after = retry_after


class ShuttingDown(AppError):
    """This server process is stopping: the run goes on; follow or wait for it again."""

    status, type, title = 503, "shutting-down", "The server is shutting down"

    def __init__(self, detail: str | None = None, **kwargs: Any) -> None:
        kwargs.setdefault("headers", {"Retry-After": "1"})
        super().__init__(detail, **kwargs)
