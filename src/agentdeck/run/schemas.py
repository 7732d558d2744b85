"""Run shapes of the platform API (`/api/v1/runs`)."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

MAX_SEQ = 2**31 - 1
"""Largest event sequence number: the `seq` column is a (32-bit) INTEGER, so a larger
`after_seq` or `Last-Event-ID` could never match and would overflow the query."""


RunStatus = Literal["pending", "running", "completed", "failed", "cancelled", "interrupted"]

_RUN_EXAMPLE: dict[str, Any] = {
    "id": "0190f5a8-7f0e-7a3c-9f53-2a1b7c9d0e11",
    "agent_id": "0190f5a8-7f0e-7a3c-9f53-2a1b7c9d0e12",
    "agent_version": 3,
    "space_id": "0190f5a8-7f0e-7a3c-9f53-2a1b7c9d0e13",
    "thread_id": None,
    "assistant_id": None,
    "parent_run_id": None,
    "status": "completed",
    "inputs": {"question": "What is agentdeck?"},
    "output": "An agent platform.",
    "error": None,
    "interrupt": None,
    "command": None,
    "config": {},
    "metadata": {},
    "multitask_strategy": "reject",
    "cancel_requested": False,
    "created_at": "2026-11-21T10:00:00Z",
    "started_at": "2026-11-21T10:00:00.004Z",
    "ended_at": "2026-11-21T10:00:01.200Z",
    "tokens_in": 120,
    "tokens_out": 48,
    "cost_usd": 0.00031,
}


class RunOut(BaseModel):
    """A run: one execution of one agent version."""

    model_config = ConfigDict(from_attributes=True, json_schema_extra={"example": _RUN_EXAMPLE})

    id: uuid.UUID
    agent_id: uuid.UUID
    agent_version: int
    space_id: uuid.UUID
    thread_id: uuid.UUID | None
    assistant_id: uuid.UUID | None
    parent_run_id: uuid.UUID | None
    status: RunStatus
    inputs: dict[str, Any] | None
    output: Any = None
    error: dict[str, Any] | None
    interrupt: dict[str, Any] | None = Field(
        description="The human node's payload `{node, message, schema}` when interrupted."
    )
    command: dict[str, Any] | None
    config: dict[str, Any]
    metadata: dict[str, Any] = Field(validation_alias="metadata_")
    multitask_strategy: str
    cancel_requested: bool
    created_at: dt.datetime
    started_at: dt.datetime | None
    ended_at: dt.datetime | None
    tokens_in: int
    tokens_out: int
    cost_usd: float


class RunPage(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={"example": {"items": [_RUN_EXAMPLE], "next_cursor": None}}
    )

    items: list[RunOut]
    next_cursor: str | None = None


class StepOut(BaseModel):
    """One attempt of one step (``index`` is the for_each item, null for the node itself)."""

    model_config = ConfigDict(
        json_schema_extra={
            "example": {
                "id": "0190f5a8-7f0e-7a3c-9f53-2a1b7c9d0e21",
                "node_id": "fetch",
                "index": None,
                "attempt": 1,
                "status": "completed",
                "idempotency_key": "0190f5a8-7f0e-7a3c-9f53-2a1b7c9d0e11:fetch",
                "input": {"url": "https://example.org"},
                "output": {"status": 200, "body": "ok"},
                "error": None,
                "started_at": "2026-11-21T10:00:00.010Z",
                "ended_at": "2026-11-21T10:00:00.090Z",
                "duration_ms": 80.0,
                "tokens_in": 0,
                "tokens_out": 0,
                "cost_usd": 0.0,
            }
        }
    )

    id: uuid.UUID
    node_id: str
    index: int | None
    attempt: int
    status: str
    idempotency_key: str
    input: Any = None
    output: Any = None
    error: dict[str, Any] | None
    started_at: dt.datetime | None
    ended_at: dt.datetime | None
    duration_ms: float | None
    tokens_in: int
    tokens_out: int
    cost_usd: float

    @classmethod
    def of(cls, row: Any) -> StepOut:
        duration = None
        if row.started_at is not None and row.ended_at is not None:
            duration = round((row.ended_at - row.started_at).total_seconds() * 1000, 3)
        return cls(
            id=row.id, node_id=row.node_id, index=None if row.item_index < 0 else row.item_index,
            attempt=row.attempt, status=row.status, idempotency_key=row.idempotency_key,
            input=row.input, output=row.output, error=row.error, started_at=row.started_at,
            ended_at=row.ended_at, duration_ms=duration, tokens_in=row.tokens_in,
            tokens_out=row.tokens_out, cost_usd=row.cost_usd,
        )  # fmt: skip


class StepList(BaseModel):
    model_config = ConfigDict(json_schema_extra={"example": {"items": []}})

    items: list[StepOut]
