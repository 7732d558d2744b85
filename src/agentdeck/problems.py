"""RFC 9457 problem+json: the one translation of errors into HTTP responses.

`install_error_handlers` makes every error a problem document: the domain errors of
`agentdeck.errors`, the LLM gateway's, a malformed cursor, request validation, Starlette's
HTTP errors, database errors a client can act on, and anything unexpected (500).
"""

from __future__ import annotations

from typing import Any

import structlog
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import DBAPIError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from starlette.exceptions import HTTPException as StarletteHTTPException

from agentdeck.errors import AppError
from agentdeck.kit.pagination import InvalidCursor
from agentdeck.llm.errors import LLMError

log = structlog.get_logger(__name__)

PROBLEM_JSON = "application/problem+json"
_TYPE_BASE = "https://agentdeck.dev/problems/"


_HTTP_TITLES = {
    400: ("bad-request", "Bad request"),
    401: ("unauthorized", "Authentication required"),
    403: ("forbidden", "Not allowed"),
    404: ("not-found", "Not found"),
    405: ("method-not-allowed", "Method not allowed"),
    409: ("conflict", "Conflict"),
    413: ("payload-too-large", "Request body too large"),
    415: ("unsupported-media-type", "Unsupported media type"),
    422: ("invalid-input", "Invalid input"),
    429: ("too-many-requests", "Too many requests"),
    500: ("internal", "Internal server error"),
}


def problem_response(
    request: Request | None,
    status: int,
    type_: str,
    title: str,
    detail: str,
    *,
    headers: dict[str, str] | None = None,
    **extra: Any,
) -> JSONResponse:
    """Build one RFC 9457 problem document."""
    body: dict[str, Any] = {
        "type": _TYPE_BASE + type_,
        "title": title,
        "status": status,
        "detail": detail,
    }
    if request is not None:
        body["instance"] = request.url.path
        request_id = getattr(request.state, "request_id", None)
        if request_id:
            body["request_id"] = request_id
    body.update({k: v for k, v in extra.items() if v is not None})
    return JSONResponse(body, status_code=status, headers=headers, media_type=PROBLEM_JSON)


_LOCATIONS = ("body", "query", "path", "header", "cookie")


def _field_path(loc: tuple[Any, ...] | list[Any]) -> str:
    """The wrong field as a dotted path: the location (``body``, ``query``, ...) leads the
    ``loc`` and is dropped; later parts are field names, even one named ``query``."""
    parts = [str(p) for p in loc]
    if parts and parts[0] in _LOCATIONS:
        parts = parts[1:]
    return ".".join(parts) or str(loc[0] if loc else "body")


def _validation_errors(exc: RequestValidationError) -> list[dict[str, Any]]:
    out = []
    for err in exc.errors():
        loc = list(err.get("loc", ()))
        out.append(
            {
                "field": _field_path(loc),
                "location": str(loc[0]) if loc else "body",
                "message": str(err.get("msg", "invalid")),
                "code": str(err.get("type", "invalid")),
            }
        )
    return out


_RETRYABLE = frozenset({"40P01", "40001"})  # deadlock_detected, serialization_failure


def _sqlstate(exc: DBAPIError) -> str | None:
    """The SQLSTATE of a PostgreSQL error behind ``exc`` (asyncpg's, through SQLAlchemy)."""
    orig = exc.orig
    for candidate in (orig, getattr(orig, "__cause__", None)):
        code = getattr(candidate, "sqlstate", None) or getattr(candidate, "pgcode", None)
        if isinstance(code, str):
            return code
    return None


def install_error_handlers(app: FastAPI) -> None:
    """Make every error, expected or not, a problem+json response."""

    @app.exception_handler(AppError)
    async def _app_error(request: Request, exc: AppError) -> JSONResponse:
        return problem_response(
            request,
            exc.status,
            exc.type,
            exc.title,
            exc.detail,
            headers=exc.headers,
            field=exc.field,
            **exc.extra,
        )

    @app.exception_handler(LLMError)
    async def _llm_error(request: Request, exc: LLMError) -> JSONResponse:
        problem = exc.to_problem()
        extra = {k: v for k, v in problem.items() if k not in {"type", "title", "status", "detail"}}
        return problem_response(
            request, exc.status, exc.type.replace("_", "-"), exc.title, exc.detail, **extra
        )

    @app.exception_handler(InvalidCursor)
    async def _cursor(request: Request, exc: InvalidCursor) -> JSONResponse:
        return problem_response(
            request, 422, "invalid-input", "Invalid input", "cursor is malformed", field="cursor"
        )

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = _validation_errors(exc)
        detail = "; ".join(f"{e['field']}: {e['message']}" for e in errors[:5])
        return problem_response(
            request,
            422,
            "invalid-input",
            "Invalid input",
            detail,
            field=errors[0]["field"] if errors else None,
            errors=errors,
        )

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        type_, title = _HTTP_TITLES.get(exc.status_code, ("http-error", "HTTP error"))
        detail = exc.detail if isinstance(exc.detail, str) else title
        return problem_response(
            request, exc.status_code, type_, title, detail, headers=dict(exc.headers or {})
        )

    @app.exception_handler(DBAPIError)
    async def _database(request: Request, exc: DBAPIError) -> JSONResponse:
        # Text PostgreSQL cannot store (NUL characters) or that overflows a column reaches the
        # database only when no schema caught it first: the client's input, not our fault.
        message = str(exc.orig)
        if "0x00" in message or "invalid byte sequence" in message:
            return problem_response(
                request,
                422,
                "invalid-input",
                "Invalid input",
                "text must not contain NUL (\\u0000) characters",
            )
        if "value too long" in message:
            return problem_response(
                request, 422, "invalid-input", "Invalid input", "a value is longer than allowed"
            )
        if _sqlstate(exc) in _RETRYABLE:
            # A deadlock or serialisation failure rolled the whole request back: nothing
            # was written, and the same request can simply be sent again.
            log.warning("request.conflict_retryable", sqlstate=_sqlstate(exc))
            return problem_response(
                request, 503, "retry", "Try again",
                "the request met a concurrent change and was rolled back; send it again",
                headers={"Retry-After": "1"},
            )  # fmt: skip
        return await _unexpected(request, exc)

    @app.exception_handler(PoolTimeout)
    async def _busy(request: Request, exc: PoolTimeout) -> JSONResponse:
        # Every database connection stayed busy past the pool's timeout: too many requests
        # at once for this process, not a fault in this one; nothing was written.
        log.warning("request.database_busy")
        return problem_response(
            request, 503, "busy", "Server busy",
            "every database connection is in use; send the request again shortly",
            headers={"Retry-After": "1"},
        )  # fmt: skip

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("request.unhandled_error", error_type=type(exc).__name__)
        return problem_response(
            request,
            500,
            "internal",
            "Internal server error",
            "An unexpected error occurred; it has been logged.",
        )
