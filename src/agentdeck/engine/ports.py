"""Ports: the only way the engine reaches models, tools, knowledge, child runs and clients.

Adapters live elsewhere (the LLM gateway, the tool registry, the run service). Tests use
fakes at exactly this seam. The tenant travels inside each adapter, never in arguments.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

from agentdeck.engine.journal import NO_USAGE, Usage

__all__ = [
    "ChatMessage",
    "ChatRequest",
    "ChatResult",
    "EventSink",
    "LLMPort",
    "NullSink",
    "PromptPort",
    "ResolvedPrompt",
    "RetrievalPort",
    "SubagentPort",
    "SubagentResult",
    "ToolCall",
    "ToolPort",
    "ToolSpec",
    "Usage",
]


@dataclass(frozen=True, slots=True)
class ToolCall:
    id: str
    name: str
    arguments: dict[str, Any]


@dataclass(frozen=True, slots=True)
class ToolSpec:
    """What a model is told about a tool: name, description, JSON Schema of arguments."""

    name: str
    description: str = ""
    parameters: dict[str, Any] = field(default_factory=lambda: {"type": "object"})


@dataclass(frozen=True, slots=True)
class ChatMessage:
    role: Literal["system", "user", "assistant", "tool"]
    content: str = ""
    tool_calls: tuple[ToolCall, ...] = ()
    tool_call_id: str | None = None


@dataclass(frozen=True, slots=True)
class ChatRequest:
    """One model call. `model` is an alias (`default`, `fast`, ...) the gateway resolves."""

    model: str
    messages: tuple[ChatMessage, ...]
    tools: tuple[ToolSpec, ...] = ()
    output_schema: dict[str, Any] | None = None
    temperature: float | None = None
    max_tokens: int | None = None
    idempotency_key: str | None = None


@dataclass(frozen=True, slots=True)
class ChatResult:
    """The reply. `parsed` is set when an output schema was requested and honoured."""

    text: str = ""
    parsed: Any = None
    tool_calls: tuple[ToolCall, ...] = ()
    usage: Usage = NO_USAGE


DeltaCallback = Callable[[str], Awaitable[None]]


class LLMPort(Protocol):
    async def chat(self, request: ChatRequest) -> ChatResult:
        """One call. Raise `NodeError` (kind llm/rate_limit/timeout) on provider failure."""
        ...

    async def stream(self, request: ChatRequest, on_delta: DeltaCallback) -> ChatResult:
        """Like `chat`, calling `on_delta(text)` for each token delta before returning."""
        ...


class ToolPort(Protocol):
    async def list_tools(self, names: Sequence[str]) -> list[ToolSpec]:
        """Specs of the named tools; raise `NodeError(kind="tool")` for an unknown one."""
        ...

    async def call(self, name: str, arguments: Mapping[str, Any], *, idempotency_key: str) -> Any:
        """Run a tool; the JSON result. Implementations forward the idempotency key."""
        ...


class RetrievalPort(Protocol):
    async def retrieve(
        self,
        knowledge_bases: Sequence[str],
        query: str,
        *,
        top_k: int,
        mode: Literal["vector", "fulltext", "hybrid"] = "hybrid",
        filters: Mapping[str, Any] | None = None,
        min_score: float | None = None,
    ) -> list[dict[str, Any]]:
        """Passages of the named knowledge bases (names or ids), best first.

        Each is a JSON-ready dict with `text`, `score`, `document_id`, `document_title`,
        `kb_id`, `page`, `heading`, `start`, `end` (more keys are kept). Raise
        `NodeError(kind="retrieval")` for an unknown knowledge base, naming it, and for a
        failed search; `kind="invalid_input"` for filters the store refuses.
        """
        ...


@dataclass(frozen=True, slots=True)
class SubagentResult:
    status: Literal["completed", "failed", "interrupted", "cancelled"]
    output: Any = None
    error: dict[str, Any] | None = None


class SubagentPort(Protocol):
    async def start(
        self, agent: str, inputs: Mapping[str, Any], *, parent_run_id: str, idempotency_key: str
    ) -> str:
        """Create (or, for a known idempotency key, find) the child run; its id."""
        ...

    async def wait(self, child_run_id: str) -> SubagentResult:
        """Wait until the child run stops; cancelling the waiter must not cancel the child."""
        ...


@dataclass(frozen=True, slots=True)
class ResolvedPrompt:
    """The version of a stored prompt a node uses, and what it needs to render it."""

    name: str
    version: int
    label: str | None
    template: str
    system: str | None = None
    variables_schema: dict[str, Any] | None = None


class PromptPort(Protocol):
    async def resolve(self, ref: str, *, label: str | None, version: int | None) -> ResolvedPrompt:
        """The prompt's version by number, by label, or the latest, in the run's space.
        Raises NodeError(kind="invalid_input") when there is no such prompt, label or version."""
        ...


class EventSink(Protocol):
    async def publish(self, run_id: str, seq: int, type: str, data: dict[str, Any]) -> None:
        """Deliver a durable event (already journaled with `seq`) to live subscribers."""
        ...

    async def publish_ephemeral(self, run_id: str, type: str, data: dict[str, Any]) -> None:
        """Deliver an event that is not journaled (`message.delta`)."""
        ...


class NullSink:
    """An EventSink that drops everything."""

    async def publish(self, run_id: str, seq: int, type: str, data: dict[str, Any]) -> None:
        return None

    async def publish_ephemeral(self, run_id: str, type: str, data: dict[str, Any]) -> None:
        return None
