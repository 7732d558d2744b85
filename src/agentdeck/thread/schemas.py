"""LangGraph-shaped thread, state and run bodies and resources.

Request bodies accept and ignore fields they do not know: the official `langgraph-sdk`
sends options (`ttl`, `durability`, `stream_resumable`, ...) that agentdeck does not model.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

_THREAD_ID = "0190f5a8-7f0e-7a3c-9f53-2a1b7c9d0e51"
_RUN_ID = "0190f5a8-7f0e-7a3c-9f53-2a1b7c9d0e61"
_VALUES = {"inputs": {"ticket": "Printer on fire"}, "steps": {}, "output": None}
_INTERRUPT = {
    "value": {"node": "review", "message": "Approve the ticket text?"},
    "id": "5b0c5c1f2c6e5d7a9f1e3b2a4c6d8e0f",
}
_THREAD_EXAMPLE: dict[str, Any] = {
    "thread_id": _THREAD_ID,
    "created_at": "2026-11-21T10:00:00Z",
    "updated_at": "2026-11-21T10:00:00Z",
    "metadata": {"topic": "billing"},
    "status": "idle",
    "values": _VALUES,
    "interrupts": {},
}
_CHECKPOINT = {
    "thread_id": _THREAD_ID,
    "checkpoint_ns": "",
    "checkpoint_id": _RUN_ID,
    "checkpoint_map": None,
}
_STATE_EXAMPLE: dict[str, Any] = {
    "values": _VALUES,
    "next": ["review"],
    "checkpoint": _CHECKPOINT,
    "metadata": {"run_id": _RUN_ID, "step": 1, "source": "loop"},
    "created_at": "2026-11-21T10:00:00Z",
    "parent_checkpoint": None,
    "tasks": [
        {
            "id": "7c1d2e3f4a5b6c7d8e9f0a1b2c3d4e5f",
            "name": "review",
            "error": None,
            "interrupts": [_INTERRUPT],
            "checkpoint": None,
            "state": None,
            "result": None,
        }
    ],
    "interrupts": [_INTERRUPT],
}
_RUN_EXAMPLE: dict[str, Any] = {
    "run_id": _RUN_ID,
    "thread_id": _THREAD_ID,
    "assistant_id": "0190f5a8-7f0e-7a3c-9f53-2a1b7c9d0e41",
    "created_at": "2026-11-21T10:00:00Z",
    "updated_at": "2026-11-21T10:00:01Z",
    "status": "success",
    "metadata": {},
    "multitask_strategy": "reject",
    "agent_id": "0190f5a8-7f0e-7a3c-9f53-2a1b7c9d0e21",
    "agent_version": 1,
}


class ThreadCreate(BaseModel):
    model_config = ConfigDict(
        extra="ignore", json_schema_extra={"example": {"metadata": {"topic": "billing"}}}
    )

    thread_id: str | None = Field(default=None, max_length=100)
    metadata: dict[str, Any] | None = Field(
        default=None,
        description="Free metadata. `space_id` picks the space (default: your personal "
        "space, or the one space an API key is limited to).",
    )
    if_exists: Literal["raise", "do_nothing"] | None = None


class ThreadUpdate(BaseModel):
    model_config = ConfigDict(
        extra="ignore", json_schema_extra={"example": {"metadata": {"topic": "refunds"}}}
    )

    metadata: dict[str, Any] | None = None


class ThreadSearch(BaseModel):
    model_config = ConfigDict(
        extra="ignore", json_schema_extra={"example": {"status": "idle", "limit": 10}}
    )

    metadata: dict[str, Any] | None = None
    values: dict[str, Any] | None = None
    ids: list[str] | None = Field(default=None, max_length=1000)
    status: Literal["idle", "busy", "interrupted", "error"] | None = None
    limit: int = Field(default=10, ge=1, le=1000)
    offset: int = Field(default=0, ge=0)
    sort_by: Literal["thread_id", "status", "created_at", "updated_at"] | None = None
    sort_order: Literal["asc", "desc"] | None = None


class CheckpointRef(BaseModel):
    """LangGraph's `Checkpoint` config: which checkpoint of the thread."""

    model_config = ConfigDict(
        extra="ignore",
        json_schema_extra={
            "example": {
                "checkpoint_id": "1ef4a9b8-d80d-6fa7-8000-9300467fad0f",
                "checkpoint_ns": "",
            }
        },
    )

    checkpoint_id: str | None = None
    checkpoint_ns: str = ""
    thread_id: str | None = None


class ThreadHistoryRequest(BaseModel):
    model_config = ConfigDict(extra="ignore", json_schema_extra={"example": {"limit": 10}})

    limit: int = Field(default=10, ge=1, le=1000)
    metadata: dict[str, Any] | None = None
    before: str | CheckpointRef | None = None
    """Only states older than this checkpoint (its id, or its config)."""

    @property
    def before_id(self) -> str | None:
        if isinstance(self.before, CheckpointRef):
            return self.before.checkpoint_id
        return self.before


class ThreadStateAtRequest(BaseModel):
    """`POST /threads/{id}/state/checkpoint`: the state at one checkpoint."""

    model_config = ConfigDict(
        extra="ignore",
        json_schema_extra={
            "example": {"checkpoint": {"checkpoint_id": "1ef4a9b8-d80d-6fa7-8000-9300467fad0f"}}
        },
    )

    checkpoint: CheckpointRef


class ThreadOut(BaseModel):
    """LangGraph's `Thread`."""

    model_config = ConfigDict(json_schema_extra={"example": _THREAD_EXAMPLE})

    thread_id: str
    created_at: dt.datetime
    updated_at: dt.datetime
    metadata: dict[str, Any]
    status: str
    values: dict[str, Any] | None
    interrupts: dict[str, list[dict[str, Any]]]


class ThreadStateOut(BaseModel):
    """LangGraph's `ThreadState`: values `{inputs, steps, output}` and pending interrupts."""

    model_config = ConfigDict(json_schema_extra={"example": _STATE_EXAMPLE})

    values: dict[str, Any]
    next: list[str]
    checkpoint: dict[str, Any]
    metadata: dict[str, Any]
    created_at: str | None
    parent_checkpoint: dict[str, Any] | None
    tasks: list[dict[str, Any]]
    interrupts: list[dict[str, Any]]


StreamModeName = Literal[
    "values",
    "updates",
    "messages",
    "messages-tuple",
    "custom",
    "events",
    "debug",
    "tasks",
    "checkpoints",
    "tools",
    "lifecycle",
]


class RunCreate(BaseModel):
    """A run request as `langgraph-sdk` sends it; `input` becomes the agent's inputs."""

    model_config = ConfigDict(
        extra="ignore",
        json_schema_extra={
            "example": {"assistant_id": "support-triage", "input": {"ticket": "Printer on fire"}}
        },
    )

    assistant_id: str = Field(
        min_length=1, max_length=200, description="An assistant id, or an agent name or id."
    )
    input: dict[str, Any] | None = None
    command: dict[str, Any] | None = Field(
        default=None, description="`{resume: value}` answers an interrupted thread."
    )
    config: dict[str, Any] | None = None
    context: dict[str, Any] | None = None
    metadata: dict[str, Any] | None = None
    stream_mode: StreamModeName | list[StreamModeName] | None = None
    multitask_strategy: Literal["reject", "enqueue"] | None = None
    if_not_exists: Literal["create", "reject"] | None = None


class RunOut(BaseModel):
    """LangGraph's `Run` (`status`: pending, running, success, error, interrupted)."""

    model_config = ConfigDict(json_schema_extra={"example": _RUN_EXAMPLE})

    run_id: str
    thread_id: str | None
    assistant_id: str | None
    created_at: dt.datetime
    updated_at: dt.datetime
    status: str
    metadata: dict[str, Any]
    multitask_strategy: str
    agent_id: str
    agent_version: int
    cancel_reason: str | None = None
