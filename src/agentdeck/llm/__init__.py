"""The LLM gateway core: providers, routing, fallback, retries, cache, usage and budgets.

A pure library: no web framework, no ORM, no feature packages. The platform passes provider
configs, aliases and ports in; see `Gateway`.
"""

from __future__ import annotations

from agentdeck.llm.cache import InMemoryTTLCache, RedisResponseCache
from agentdeck.llm.catalog import Catalog
from agentdeck.llm.errors import (
    BudgetExceeded,
    LLMError,
    ProviderRequestError,
    ProviderUnavailableError,
    StructuredOutputError,
    UnknownModelError,
)
from agentdeck.llm.gateway import Gateway
from agentdeck.llm.ports import (
    BudgetGuard,
    ListUsageSink,
    NullUsageSink,
    ResponseCache,
    UsageRecord,
    UsageSink,
)
from agentdeck.llm.types import (
    AliasConfig,
    Attempt,
    CallContext,
    Capabilities,
    ChatMessage,
    ChatRequest,
    ChatResult,
    FinalEvent,
    ModelInfo,
    ModelOverride,
    ProviderConfig,
    StreamEvent,
    TextDelta,
    ToolCall,
    ToolCallEvent,
    ToolSpec,
    Usage,
)

__all__ = [
    "AliasConfig",
    "Attempt",
    "BudgetExceeded",
    "BudgetGuard",
    "CallContext",
    "Capabilities",
    "Catalog",
    "ChatMessage",
    "ChatRequest",
    "ChatResult",
    "FinalEvent",
    "Gateway",
    "InMemoryTTLCache",
    "LLMError",
    "ListUsageSink",
    "ModelInfo",
    "ModelOverride",
    "NullUsageSink",
    "ProviderConfig",
    "ProviderRequestError",
    "ProviderUnavailableError",
    "RedisResponseCache",
    "ResponseCache",
    "StreamEvent",
    "StructuredOutputError",
    "TextDelta",
    "ToolCall",
    "ToolCallEvent",
    "ToolSpec",
    "UnknownModelError",
    "Usage",
    "UsageRecord",
    "UsageSink",
]
