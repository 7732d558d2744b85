"""Ports the gateway needs from the platform. The feature layer provides the implementations."""

from __future__ import annotations

from typing import Literal, Protocol

from pydantic import BaseModel, ConfigDict, Field

from agentdeck.llm.types import Attempt, CallContext


class UsageRecord(BaseModel):
    """One gateway call as it is billed: written once per call, whether it succeeded or not."""

    model_config = ConfigDict(frozen=True)

    org_id: str | None = None
    space_id: str | None = None
    user_id: str | None = None
    api_key_id: str | None = None
    run_id: str | None = None
    step_id: str | None = None
    agent_id: str | None = None
    kind: Literal["chat", "stream", "embed"] = "chat"
    provider: str
    model: str
    input_tokens: int = 0
    output_tokens: int = 0
    cached_tokens: int = 0
    cost_usd: float = 0.0
    latency_ms: float = 0.0
    ttft_ms: float | None = None
    status: Literal["ok", "error"] = "ok"
    error: str | None = None
    cache_hit: bool = False
    attempts: list[Attempt] = Field(default_factory=list)

    @classmethod
    def for_context(cls, ctx: CallContext, **fields: object) -> UsageRecord:
        """A record carrying the caller's ids plus `fields`."""
        return cls.model_validate({**ctx.model_dump(), **fields})


class UsageSink(Protocol):
    """Where usage records go (database, queue, log)."""

    async def record(self, record: UsageRecord) -> None:
        """Store one record. Must not raise for ordinary storage hiccups."""
        ...


class ResponseCache(Protocol):
    """Exact-match response cache. Values are opaque strings (serialized results)."""

    async def get(self, key: str) -> str | None:
        """The value stored under `key`, or None when missing or expired."""
        ...

    async def set(self, key: str, value: str, ttl: int) -> None:
        """Store `value` under `key` for `ttl` seconds."""
        ...


class BudgetGuard(Protocol):
    """Checks a call against the caller's budgets before it is sent."""

    async def check(self, ctx: CallContext, estimated_cost: float) -> None:
        """Return when the call may go ahead; raise `BudgetExceeded` otherwise."""
        ...


class NullUsageSink:
    """A sink that drops records (benchmarks, scripts)."""

    async def record(self, record: UsageRecord) -> None:
        """Drop the record."""
        return None


class ListUsageSink:
    """A sink that keeps records in a list (tests, debugging)."""

    def __init__(self) -> None:
        self.records: list[UsageRecord] = []

    async def record(self, record: UsageRecord) -> None:
        """Append the record."""
        self.records.append(record)
