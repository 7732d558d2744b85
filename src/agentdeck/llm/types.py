"""Plain values the platform hands to the LLM gateway and gets back from it.

Nothing here talks to a provider: these are the shapes that cross the boundary between the
feature layer (which loads credentials, aliases and budgets from the database) and the gateway.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

ProviderKind = Literal["openai", "anthropic", "google", "ollama", "openai_compatible", "local"]
Role = Literal["system", "user", "assistant", "tool"]
AttemptStatus = Literal["ok", "error"]
RoutingStrategy = Literal["ordered", "cheapest"]


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class ProviderConfig(_Frozen):
    """A configured provider account. `api_key` is already decrypted by the caller."""

    id: str
    name: str
    kind: ProviderKind
    api_key: str | None = Field(default=None, repr=False)
    base_url: str | None = None
    models: list[str] = Field(default_factory=list)


class AliasConfig(_Frozen):
    """A model alias (`fast`, `smart`, `default`): a fallback chain of `provider/model` refs."""

    name: str
    models: list[str]
    strategy: RoutingStrategy = "ordered"


class ToolCall(_Frozen):
    """A tool call requested by the model; `arguments` is the parsed JSON object."""

    id: str
    name: str
    arguments: dict[str, Any] = Field(default_factory=dict)


class ChatMessage(_Frozen):
    """One message of a conversation in OpenAI-like shape.

    `tool_calls` only appears on assistant messages; `tool_call_id` (and optionally `name`,
    the tool's name) only on tool messages.
    """

    role: Role
    content: str | None = None
    tool_calls: list[ToolCall] = Field(default_factory=list)
    tool_call_id: str | None = None
    name: str | None = None


class ToolSpec(_Frozen):
    """A tool the model may call. The gateway never executes tools, it only returns the calls."""

    name: str
    description: str = ""
    parameters_json_schema: dict[str, Any] = Field(
        default_factory=lambda: {"type": "object", "properties": {}}
    )


class ChatRequest(_Frozen):
    """What to ask. `model` is an alias name or `provider_name/model`."""

    model: str = "default"
    messages: list[ChatMessage]
    tools: list[ToolSpec] = Field(default_factory=list)
    response_format: dict[str, Any] | None = None
    # `auto`, `none`, `required`, or the names of the tools the model must choose from.
    tool_choice: Literal["auto", "none", "required"] | list[str] | None = None
    temperature: float | None = None
    max_tokens: int | None = None
    timeout_s: float = 60.0
    max_retries: int = 2
    structured_retries: int = 2
    use_cache: bool = True


class Usage(_Frozen):
    """Token counts of one call (summed over re-asks)."""

    input_tokens: int = 0
    output_tokens: int = 0
    cached_tokens: int = 0


class Attempt(_Frozen):
    """One request sent (or tried) to one provider model."""

    provider: str
    model: str
    status: AttemptStatus
    error_kind: str | None = None
    http_status: int | None = None
    latency_ms: float = 0.0
    ttft_ms: float | None = None


class ChatResult(_Frozen):
    """The answer. `parsed` holds the validated structured output when `response_format` was set."""

    message: str = ""
    tool_calls: list[ToolCall] = Field(default_factory=list)
    parsed: Any = None
    usage: Usage = Field(default_factory=Usage)
    model: str
    provider: str
    cost_usd: float = 0.0
    cache_hit: bool = False
    attempts: list[Attempt] = Field(default_factory=list)


class TextDelta(_Frozen):
    """A piece of generated text."""

    type: Literal["delta"] = "delta"
    text: str


class ToolCallEvent(_Frozen):
    """A complete tool call, emitted once its arguments have fully streamed."""

    type: Literal["tool_call"] = "tool_call"
    tool_call: ToolCall


class FinalEvent(_Frozen):
    """The last event of a stream: the full result with usage and ttft in the attempts."""

    type: Literal["final"] = "final"
    result: ChatResult


StreamEvent = Annotated[TextDelta | ToolCallEvent | FinalEvent, Field(discriminator="type")]


class CallContext(_Frozen):
    """Who is calling, for usage attribution and budgets. Ids are opaque strings."""

    org_id: str | None = None
    space_id: str | None = None
    user_id: str | None = None
    api_key_id: str | None = None
    run_id: str | None = None
    step_id: str | None = None
    agent_id: str | None = None


class Capabilities(_Frozen):
    """What a model can do."""

    tools: bool = True
    vision: bool = False
    json_schema: bool = False
    embeddings: bool = False


class ModelInfo(_Frozen):
    """Catalog entry: capabilities, context window and USD prices per million tokens."""

    provider: str
    model: str
    context_window: int | None = None
    capabilities: Capabilities = Field(default_factory=Capabilities)
    input_price: float | None = None
    output_price: float | None = None
    cached_input_price: float | None = None


class ModelOverride(_Frozen):
    """A per-org correction to the catalog; unset fields keep the catalog value."""

    context_window: int | None = None
    capabilities: Capabilities | None = None
    input_price: float | None = None
    output_price: float | None = None
    cached_input_price: float | None = None
