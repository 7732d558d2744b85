"""Errors on /v1 in OpenAI's shape, `{"error": {"message", "type", "param", "code"}}`.

OpenAI's clients parse that shape (not problem+json), so this surface speaks it; the
status codes are the platform's own (401, 402 for a budget, 404, 429 with Retry-After).
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any

import structlog
from fastapi import Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from agentdeck.api import TransactionalRoute
from agentdeck.errors import AppError
from agentdeck.llm import LLMError
from agentdeck.llm.errors import BudgetExceeded, ProviderUnavailableError, UnknownModelError

log = structlog.get_logger(__name__)

_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    402: "insufficient_quota",
    403: "permission_error",
    404: "not_found_error",
    409: "conflict_error",
    413: "invalid_request_error",
    429: "rate_limit_exceeded",
}


def body(
    status: int, message: str, *, code: str | None, param: str | None = None
) -> dict[str, Any]:
    """The error document OpenAI's clients expect."""
    kind = _TYPES.get(status, "api_error" if status >= 500 else "invalid_request_error")
    return {"error": {"message": message, "type": kind, "param": param, "code": code}}


def _rate_limited(exc: ProviderUnavailableError) -> bool:
    attempts = exc.extra.get("attempts") or []
    return bool(attempts) and all(
        a.get("error_kind") == "rate_limit" for a in attempts if a.get("status") == "error"
    )


def openai_error(exc: Exception) -> tuple[int, dict[str, Any], dict[str, str]]:
    """Status, body and headers for an exception on this surface."""
    if isinstance(exc, RequestValidationError):
        errors = exc.errors()
        first = errors[0] if errors else {}
        loc = [str(p) for p in first.get("loc", ())]
        param = ".".join(loc[1:] if loc and loc[0] == "body" else loc) or None
        message = f"{param}: {first.get('msg', 'invalid')}" if param else "invalid request"
        return 400, body(400, message, code="invalid_request", param=param), {}
    if isinstance(exc, AppError):
        status = 400 if exc.status == 422 else exc.status
        code = exc.type.replace("-", "_")
        return status, body(status, exc.detail, code=code, param=exc.field), dict(exc.headers)
    if isinstance(exc, BudgetExceeded):
        return 402, body(402, exc.detail, code="budget_exceeded"), {}
    if isinstance(exc, UnknownModelError):
        return 404, body(404, exc.detail, code="model_not_found", param="model"), {}
    if isinstance(exc, ProviderUnavailableError) and _rate_limited(exc):
        retry = exc.extra.get("retry_after") or 1
        headers = {"Retry-After": str(max(1, int(retry)))}
        return 429, body(429, exc.detail, code="rate_limit_exceeded"), headers
    if isinstance(exc, LLMError):
        status = 400 if exc.status == 422 else exc.status
        return status, body(status, exc.detail, code=exc.type.replace(".", "_")), {}
    log.exception("openai.unhandled_error", error_type=type(exc).__name__)
    return 500, body(500, "An unexpected error occurred; it has been logged.", code="internal"), {}


def error_response(exc: Exception) -> JSONResponse:
    status, content, headers = openai_error(exc)
    if status == 401:
        headers.setdefault("WWW-Authenticate", "Bearer")
    return JSONResponse(content, status_code=status, headers=headers)


class OpenAIRoute(TransactionalRoute):
    """A committing route whose errors, auth and validation included, are OpenAI's shape."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def run(request: Request) -> Response:
            try:
                return await handler(request)
            except (AppError, LLMError, RequestValidationError) as exc:
                return error_response(exc)

        return run
