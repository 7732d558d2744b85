"""Gateway errors. Each carries what the API layer needs for an RFC 9457 problem+json answer.

Details never contain credentials: everything that may echo upstream text goes through `redact`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

_KEY_PATTERN = re.compile(r"\b(sk|pk|rk|key|sess)-[A-Za-z0-9_\-*.]{6,}|\bAIza[0-9A-Za-z_\-]{20,}")


def redact(text: str, secrets: Iterable[str | None] = ()) -> str:
    """Remove the given secrets and anything that looks like an API key from `text`."""
    for secret in secrets:
        if secret and len(secret) >= 4:
            text = text.replace(secret, "[redacted]")
    return _KEY_PATTERN.sub("[redacted]", text)


class LLMError(Exception):
    """Base of every gateway error."""

    type: str = "llm_error"
    title: str = "LLM gateway error"
    status: int = 500

    def __init__(self, detail: str, **extra: Any) -> None:
        super().__init__(detail)
        self.detail = detail
        self.extra: dict[str, Any] = extra

    def to_problem(self) -> dict[str, Any]:
        """The RFC 9457 body (without `instance`), ready for the API layer."""
        return {
            "type": self.type,
            "title": self.title,
            "status": self.status,
            "detail": self.detail,
            **self.extra,
        }


class UnknownModelError(LLMError):
    """The model or alias name does not resolve to a configured provider model."""

    type = "llm.unknown_model"
    title = "Unknown model"
    status = 422


class ProviderRequestError(LLMError):
    """The provider rejected the request itself (4xx other than 429); retrying cannot help."""

    type = "llm.bad_request"
    title = "The model provider rejected the request"
    status = 422

    def __init__(self, detail: str, *, http_status: int | None = None, **extra: Any) -> None:
        super().__init__(detail, http_status=http_status, **extra)
        self.http_status = http_status


class ProviderUnavailableError(LLMError):
    """Every model in the fallback chain failed with a transient error."""

    type = "llm.unavailable"
    title = "No model provider could answer"
    status = 502


class BudgetExceeded(LLMError):
    """The budget guard refused the call before anything was sent."""

    type = "llm.budget_exceeded"
    title = "Budget exceeded"
    status = 402


class StreamCancelled(LLMError):
    """A stream was left (its client went away) before it ended: recorded, never raised
    to a client."""

    type = "llm.cancelled"
    title = "The stream was cancelled"
    status = 499


class StructuredOutputError(LLMError):
    """The model did not produce JSON matching the schema after all re-asks."""

    type = "llm.structured_output"
    title = "The model did not return valid structured output"
    status = 502

    def __init__(self, detail: str, *, errors: list[str], **extra: Any) -> None:
        super().__init__(detail, errors=errors, **extra)
        self.errors = errors
