"""Usage shapes: sums per model, day, space or agent, and the raw records behind them."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

GroupBy = Literal["model", "day", "space", "agent"]

_SUMS: dict[str, Any] = {
    "calls": 12,
    "errors": 1,
    "cache_hits": 2,
    "input_tokens": 5400,
    "output_tokens": 1200,
    "cached_tokens": 800,
    "cost_usd": 0.0123,
    "avg_latency_ms": 812.4,
}
_GROUP: dict[str, Any] = {"key": "openai/gpt-4o-mini", "model": "openai/gpt-4o-mini", **_SUMS}
_ATTEMPT: dict[str, Any] = {
    "provider": "openai",
    "model": "gpt-4o-mini",
    "status": "ok",
    "error_kind": None,
    "http_status": None,
    "latency_ms": 801.2,
    "ttft_ms": 190.0,
}
_RECORD: dict[str, Any] = {
    "id": "0190f5a8-7f0e-7a3c-9f53-2a1b7c9d0e11",
    "created_at": "2026-11-21T10:00:00Z",
    "space_id": "0190f5a8-7f0e-7a3c-9f53-2a1b7c9d0e12",
    "user_id": "0190f5a8-7f0e-7a3c-9f53-2a1b7c9d0e13",
    "api_key_id": None,
    "run_id": "0190f5a8-7f0e-7a3c-9f53-2a1b7c9d0e14",
    "step_id": "answer",
    "agent_id": "support-bot",
    "kind": "chat",
    "provider": "openai",
    "model": "gpt-4o-mini",
    "input_tokens": 450,
    "output_tokens": 100,
    "cached_tokens": 0,
    "cost_usd": 0.000128,
    "latency_ms": 812.4,
    "ttft_ms": 190.0,
    "status": "ok",
    "error": None,
    "cache_hit": False,
    "attempts": [_ATTEMPT],
}


class UsageSums(BaseModel):
    """Totals over a set of calls."""

    model_config = ConfigDict(json_schema_extra={"example": _SUMS})

    calls: int
    errors: int
    cache_hits: int
    input_tokens: int
    output_tokens: int
    cached_tokens: int
    cost_usd: float
    avg_latency_ms: float


class UsageGroup(UsageSums):
    """Totals of one group. Only the field named by ``group_by`` is present beside ``key``."""

    model_config = ConfigDict(json_schema_extra={"example": _GROUP})

    key: str | None = Field(description="The group's value; null for unattributed calls.")
    model: str | None = None
    day: str | None = Field(default=None, description="YYYY-MM-DD (UTC)")
    space_id: uuid.UUID | None = None
    agent_id: str | None = None


class UsageSummary(BaseModel):
    """Usage in ``[from, to)`` grouped one way, and the grand total."""

    model_config = ConfigDict(
        populate_by_name=True,
        json_schema_extra={
            "example": {
                "items": [_GROUP],
                "total": _SUMS,
                "from": "2026-11-01T00:00:00Z",
                "to": "2026-12-01T00:00:00Z",
            }
        },
    )

    items: list[UsageGroup]
    total: UsageSums
    from_: dt.datetime = Field(alias="from")
    to: dt.datetime


class AttemptOut(BaseModel):
    """One request sent (or tried) to one provider model during a call."""

    model_config = ConfigDict(json_schema_extra={"example": _ATTEMPT})

    provider: str
    model: str
    status: str
    error_kind: str | None = None
    http_status: int | None = None
    latency_ms: float = 0.0
    ttft_ms: float | None = None


class UsageRecordOut(BaseModel):
    """One gateway call as it was billed."""

    model_config = ConfigDict(from_attributes=True, json_schema_extra={"example": _RECORD})

    id: uuid.UUID
    created_at: dt.datetime
    space_id: uuid.UUID | None
    user_id: uuid.UUID | None
    api_key_id: uuid.UUID | None
    run_id: str | None
    step_id: str | None
    agent_id: str | None
    kind: str
    provider: str
    model: str
    input_tokens: int
    output_tokens: int
    cached_tokens: int
    cost_usd: float
    latency_ms: float
    ttft_ms: float | None
    status: str
    error: str | None
    cache_hit: bool
    attempts: list[AttemptOut]


class UsageRecordPage(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={"example": {"items": [_RECORD], "next_cursor": None}}
    )

    items: list[UsageRecordOut]
    next_cursor: str | None
