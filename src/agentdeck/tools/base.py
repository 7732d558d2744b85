"""The tool protocol: what a toolset is, what a failed call looks like, how results are capped.

A *toolset* has a slug name and a kind (``builtin``, ``openapi``, ``mcp``) and offers tools,
each a :class:`ToolDefinition` (name, description, JSON Schema of its arguments). A call
returns JSON data or raises :class:`ToolError`: a failure the agent loop hands back to the
model as a tool error (it is a ``NodeError``, so a ``tool`` node fails by its ``on_error``
and retry policies select on its ``kind``). Nothing here knows about the database: secrets
arrive as :data:`AuthHeaders`, an async callable the credential feature supplies.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from agentdeck.engine.errors import ErrorKind, NodeError

AuthHeaders = Callable[[], Awaitable[dict[str, str]]]
"""The headers that authenticate one outbound call (``Authorization``, an API-key header,
...). Called before every request, so a refreshed OAuth2 token is picked up; it may raise
:class:`ToolError` (e.g. a credential that needs re-authorisation) with a clear message."""

SigningSecret = Callable[[], Awaitable[bytes]]
"""The secret a ``webhook`` toolset signs its payloads with (from a credential)."""

DEFAULT_TIMEOUT = 30.0
DEFAULT_MAX_RESULT_BYTES = 256_000


async def no_auth() -> dict[str, str]:
    """:data:`AuthHeaders` of a toolset without a credential."""
    return {}


class ToolError(NodeError):
    """A tool call failed: timeout, refused address, HTTP error, garbage or oversized answer,
    dropped connection, unknown tool or bad arguments.

    ``kind`` is an engine error kind (``timeout``, ``network``, ``forbidden``, ``http_4xx``,
    ``http_5xx``, ``rate_limit``, ``invalid_input``, ``invalid_output``, ``tool``);
    ``message`` is written for the model, which gets it back and may recover.
    """

    def __init__(
        self, kind: ErrorKind, message: str, *, tool: str | None = None, detail: Any = None
    ) -> None:
        self.tool = tool
        super().__init__(kind, message if tool is None else f"{tool}: {message}", detail=detail)


@dataclass(frozen=True, slots=True)
class ToolDefinition:
    """One tool as a model sees it: its name, what it does, the JSON Schema of its arguments."""

    name: str
    description: str
    input_schema: dict[str, Any] = field(default_factory=lambda: {"type": "object"})

    def as_dict(self) -> dict[str, Any]:
        """The ``{name, description, input_schema}`` shape of the API and of snapshots."""
        return {
            "name": self.name,
            "description": self.description,
            "input_schema": self.input_schema,
        }


@dataclass(frozen=True, slots=True)
class CallLimits:
    """Bounds of every call of a toolset: a timeout (seconds, the whole call) and a cap on
    the result (bytes of its JSON form, and of a response body read from the network)."""

    timeout: float = DEFAULT_TIMEOUT
    max_result_bytes: int = DEFAULT_MAX_RESULT_BYTES

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> CallLimits:
        """The limits named ``timeout`` and ``max_result_bytes`` in a toolset's config.
        Raises ValueError for one that is not a positive number."""
        timeout = config.get("timeout", DEFAULT_TIMEOUT)
        cap = config.get("max_result_bytes", DEFAULT_MAX_RESULT_BYTES)
        if not isinstance(timeout, int | float) or isinstance(timeout, bool) or timeout <= 0:
            raise ValueError("timeout must be a positive number of seconds")
        if not isinstance(cap, int) or isinstance(cap, bool) or cap <= 0:
            raise ValueError("max_result_bytes must be a positive integer")
        return cls(float(timeout), cap)


class Toolset(Protocol):
    """A named set of tools of one kind.

    ``list_tools`` may reach the network (MCP) and raises :class:`ToolError` when it fails;
    ``call`` raises :class:`ToolError` for every failure, never anything else.
    """

    @property
    def name(self) -> str: ...

    @property
    def kind(self) -> str: ...

    async def list_tools(self) -> list[ToolDefinition]:
        """The tools it offers now."""
        ...

    async def refresh(self) -> list[ToolDefinition]:
        """Fetch the tool list again where it comes from elsewhere (MCP); the new list."""
        ...

    async def call(
        self, tool: str, arguments: Mapping[str, Any], *, idempotency_key: str | None = None
    ) -> Any:
        """Run ``tool``; its JSON result. The idempotency key is forwarded to the server."""
        ...

    async def aclose(self) -> None:
        """Release connections."""
        ...


class ToolsetConfigError(ValueError):
    """A toolset's config cannot be used; ``field`` names the config key that is wrong (the
    feature answers 422 naming it)."""

    def __init__(self, field: str, message: str) -> None:
        self.field = field
        self.message = message
        super().__init__(f"{field}: {message}")


@dataclass(frozen=True, slots=True)
class ToolsetConfig:
    """A stored toolset as the registry builds it: slug ``name``, ``kind`` (``builtin``,
    ``openapi``, ``mcp``), its ``config`` (JSON data, no secrets) and its credential as
    callables (auth headers for every call, a signing secret for webhooks)."""

    name: str
    kind: str
    config: Mapping[str, Any]
    auth: AuthHeaders = no_auth
    signing_secret: SigningSecret | None = None


def json_size(value: Any) -> int:
    """Bytes of ``value``'s compact JSON form (non-JSON values by their ``str``)."""
    return len(json.dumps(value, default=str, ensure_ascii=False, separators=(",", ":")).encode())


def cap_result(value: Any, max_bytes: int) -> Any:
    """``value`` itself when its JSON form fits in ``max_bytes``; else a result that says it
    was truncated: ``{"truncated": true, "note": ..., "preview": <the first bytes>}``."""
    text = json.dumps(value, default=str, ensure_ascii=False, separators=(",", ":"))
    size = len(text.encode())
    if size <= max_bytes:
        return value
    preview = text.encode()[:max_bytes].decode(errors="ignore")
    return {
        "truncated": True,
        "note": f"the result was truncated: {size} bytes of JSON, only the first {max_bytes} kept",
        "preview": preview,
    }


def fit_body(out: dict[str, Any], max_bytes: int) -> dict[str, Any]:
    """``out`` with its text ``body`` shortened until the whole result fits in ``max_bytes``
    of JSON, marked ``truncated`` (the model gets the start of the body, not an opaque
    preview); other results go through :func:`cap_result`."""
    for _ in range(5):
        excess = json_size(out) - max_bytes
        body = out.get("body")
        if excess <= 0 or not isinstance(body, str) or not body:
            break
        out = {**out, "body": body[: max(0, len(body) - excess - 16)], "truncated": True}
        out.setdefault("note", "the response body was truncated to fit max_result_bytes")
    return out if json_size(out) <= max_bytes else cap_result(out, max_bytes)
