"""Which failures are worth retrying or falling back on, and how long to wait."""

from __future__ import annotations

import random
import time
from collections.abc import Iterable
from dataclasses import dataclass
from email.utils import parsedate_to_datetime

import httpx2
from pydantic_ai.exceptions import (
    ModelAPIError,
    ModelConnectionError,
    ModelHTTPError,
    ModelRateLimitError,
    ModelRequestRejectedError,
    ModelServerError,
    ModelTimeoutError,
    ModelUnavailableError,
)

from agentdeck.llm.errors import redact

RETRYABLE_KINDS = frozenset({"timeout", "connection", "rate_limit", "server"})


@dataclass(frozen=True, slots=True)
class Failure:
    """A classified failed attempt; `message` is already redacted."""

    kind: str
    http_status: int | None
    retry_after: float | None
    message: str

    @property
    def retryable(self) -> bool:
        """Transient: retry, then fall back. Anything else is the caller's problem."""
        return self.kind in RETRYABLE_KINDS


def parse_retry_after(value: str | None, now: float | None = None) -> float | None:
    """Seconds to wait from a `Retry-After` header (delta-seconds or HTTP date)."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(float(value), 0.0)
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    current = time.time() if now is None else now
    return max(when.timestamp() - current, 0.0)


def _status_kind(status: int) -> str:
    if status == 429:
        return "rate_limit"
    if status in (408, 504):
        return "timeout"
    if status >= 500:
        return "server"
    return "bad_request"


def classify(exc: BaseException, secrets: Iterable[str | None] = ()) -> Failure:
    """Sort an exception raised by a model call into a `Failure`."""
    message = redact(type(exc).__name__ + ": " + str(exc)[:500], secrets)
    if isinstance(exc, ModelHTTPError):
        headers = exc.headers or {}
        return Failure(
            _status_kind(exc.status_code),
            exc.status_code,
            parse_retry_after(headers.get("retry-after")),
            message,
        )
    if isinstance(exc, TimeoutError | ModelTimeoutError | httpx2.TimeoutException):
        return Failure("timeout", None, None, message)
    if isinstance(exc, ModelConnectionError | httpx2.TransportError | ConnectionError):
        return Failure("connection", None, None, message)
    if isinstance(exc, ModelRateLimitError):
        return Failure("rate_limit", None, None, message)
    if isinstance(exc, ModelServerError | ModelUnavailableError):
        return Failure("server", None, None, message)
    if isinstance(exc, ModelRequestRejectedError):
        return Failure("bad_request", None, None, message)
    if isinstance(exc, ModelAPIError):
        return Failure("server", None, None, message)
    return Failure("error", None, None, message)


def backoff_delay(retry: int, base: float, cap: float, rng: random.Random) -> float:
    """Exponential backoff with full jitter for the `retry`-th retry (0-based)."""
    return rng.uniform(0.0, min(cap, base * (2**retry)))
